//! The `.npy` header: a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`.
//!
//! Only the subset numpy writes is accepted: string, boolean and integer-tuple values.
//! Structured dtypes (a list as `descr`) are rejected with a message saying so.

/// The three fields every `.npy` header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
}

/// numpy leaves room after the dict so the first axis can grow in place (`GROWTH_AXIS_MAX_DIGITS`).
const GROWTH_AXIS_MAX_DIGITS: usize = 21;
/// numpy aligns the start of the data to this many bytes.
const ALIGNMENT: usize = 64;

impl Header {
    /// The header text as numpy writes it, padded with spaces and ending in `\n` so that
    /// `prefix_len + text.len()` is a multiple of 64 (`prefix_len` covers the magic,
    /// the version and the length field). Byte-identical to `np.save`.
    pub fn format(&self, prefix_len: usize) -> String {
        let shape = match self.shape.as_slice() {
            [] => "()".to_string(),
            [d] => format!("({d},)"),
            dims => format!(
                "({})",
                dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            ),
        };
        let fortran = if self.fortran_order { "True" } else { "False" };
        let mut text = format!(
            "{{'descr': '{}', 'fortran_order': {fortran}, 'shape': {shape}, }}",
            self.descr
        );
        if let Some(first) = self.shape.first() {
            let digits = first.to_string().len();
            text.push_str(&" ".repeat(GROWTH_AXIS_MAX_DIGITS.saturating_sub(digits)));
        }
        let unpadded = prefix_len + text.len() + 1;
        text.push_str(&" ".repeat((ALIGNMENT - unpadded % ALIGNMENT) % ALIGNMENT));
        text.push('\n');
        text
    }

    pub fn parse(text: &str) -> Result<Header, String> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            pos: 0,
        };
        let (mut descr, mut fortran_order, mut shape) = (None, None, None);
        parser.expect('{')?;
        loop {
            parser.skip_spaces();
            if parser.eat('}') {
                break;
            }
            let key = parser.string()?;
            parser.expect(':')?;
            let value = parser.value()?;
            match (key.as_str(), value) {
                ("descr", Value::Str(s)) => descr = Some(s),
                ("fortran_order", Value::Bool(b)) => fortran_order = Some(b),
                ("shape", Value::Tuple(dims)) => shape = Some(dims),
                (key @ ("descr" | "fortran_order" | "shape"), _) => {
                    return Err(format!("header key '{key}' has a value of the wrong type"))
                }
                (other, _) => return Err(format!("unexpected header key '{other}'")),
            }
            parser.skip_spaces();
            if !parser.eat(',') {
                parser.expect('}')?;
                break;
            }
        }
        Ok(Header {
            descr: descr.ok_or("header has no 'descr'")?,
            fortran_order: fortran_order.ok_or("header has no 'fortran_order'")?,
            shape: shape.ok_or("header has no 'shape'")?,
        })
    }
}

enum Value {
    Str(String),
    Bool(bool),
    Tuple(Vec<usize>),
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_spaces();
        let found = self.peek() == Some(c);
        if found {
            self.pos += 1;
        }
        found
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{c}' at character {} of the header", self.pos))
        }
    }

    fn string(&mut self) -> Result<String, String> {
        self.skip_spaces();
        let quote = match self.peek() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(format!("expected a quoted string at character {}", self.pos)),
        };
        self.pos += 1;
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == quote {
                let s = self.chars[start..self.pos].iter().collect();
                self.pos += 1;
                return Ok(s);
            }
            self.pos += 1;
        }
        Err("unterminated string in header".to_string())
    }

    fn word(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_spaces();
        match self.peek() {
            Some('\'' | '"') => self.string().map(Value::Str),
            Some('(') => self.tuple().map(Value::Tuple),
            Some('[') => Err("structured dtypes (a list as 'descr') are not supported".to_string()),
            _ => match self.word().as_str() {
                "True" => Ok(Value::Bool(true)),
                "False" => Ok(Value::Bool(false)),
                other => Err(format!("unexpected header value '{other}'")),
            },
        }
    }

    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        self.expect('(')?;
        let mut dims = Vec::new();
        loop {
            if self.eat(')') {
                return Ok(dims);
            }
            self.skip_spaces();
            let word = self.word();
            // Files written by Python 2 spell dimensions as longs: `(3L, 4L)`.
            let digits = word.strip_suffix('L').unwrap_or(&word);
            let dim = digits
                .parse::<usize>()
                .map_err(|_| format!("shape entry '{word}' is not a non-negative integer"))?;
            dims.push(dim);
            if !self.eat(',') {
                self.expect(')')?;
                return Ok(dims);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_numpy_writes() {
        let h = Header::parse("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }   \n").unwrap();
        assert_eq!(h.descr, "<f4");
        assert!(!h.fortran_order);
        assert_eq!(h.shape, vec![1, 3]);
        let scalar = Header::parse("{\"shape\": (), \"fortran_order\": True, \"descr\": \"|b1\"}").unwrap();
        assert_eq!(scalar.shape, Vec::<usize>::new());
        assert!(scalar.fortran_order);
        let py2 = Header::parse("{'descr': '<i8', 'fortran_order': False, 'shape': (3L, 4L), }").unwrap();
        assert_eq!(py2.shape, vec![3, 4]);
    }

    #[test]
    fn rejects_malformed_headers() {
        for bad in [
            "{'descr': '<f4', 'fortran_order': False}",
            "{'descr': '<f4', 'fortran_order': Maybe, 'shape': ()}",
            "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
            "{'descr': '<f4",
            "",
        ] {
            assert!(Header::parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn format_matches_numpy_padding() {
        let h = Header {
            descr: "<f4".into(),
            fortran_order: false,
            shape: vec![1, 3],
        };
        let text = h.format(10);
        assert_eq!((10 + text.len()) % 64, 0);
        assert!(text.starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }"));
        assert!(text.ends_with(" \n"));
        assert_eq!(Header::parse(&text).unwrap(), h);
    }
}
