//! Dimensions that may be symbolic, and the facts known about a value.

use std::fmt;

use lowbit_tensor::DType;

/// One dimension of a shape: a number, or a name such as `batch` or `sequence`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dim {
    Known(usize),
    Sym(String),
}

impl Dim {
    pub fn known(&self) -> Option<usize> {
        match self {
            Dim::Known(n) => Some(*n),
            Dim::Sym(_) => None,
        }
    }
}

impl From<usize> for Dim {
    fn from(n: usize) -> Self {
        Dim::Known(n)
    }
}

impl From<&str> for Dim {
    fn from(name: &str) -> Self {
        Dim::Sym(name.to_string())
    }
}

impl fmt::Display for Dim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dim::Known(n) => write!(f, "{n}"),
            Dim::Sym(s) => f.write_str(s),
        }
    }
}

/// What is known about a value before running the graph. Either part may be unknown.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fact {
    pub dtype: Option<DType>,
    pub shape: Option<Vec<Dim>>,
}

impl Fact {
    pub fn new(dtype: DType, shape: impl IntoIterator<Item = Dim>) -> Self {
        Fact {
            dtype: Some(dtype),
            shape: Some(shape.into_iter().collect()),
        }
    }

    /// A fact with a fully known shape.
    pub fn known(dtype: DType, shape: &[usize]) -> Self {
        Self::new(dtype, shape.iter().map(|&n| Dim::Known(n)))
    }

    pub fn unknown() -> Self {
        Fact::default()
    }

    /// The shape when every dimension is known.
    pub fn concrete_shape(&self) -> Option<Vec<usize>> {
        self.shape.as_ref()?.iter().map(Dim::known).collect()
    }
}

impl fmt::Display for Fact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.dtype {
            Some(t) => write!(f, "{t}")?,
            None => f.write_str("?")?,
        }
        match &self.shape {
            Some(dims) => {
                let dims: Vec<String> = dims.iter().map(Dim::to_string).collect();
                write!(f, "[{}]", dims.join(","))
            }
            None => f.write_str("[?]"),
        }
    }
}
