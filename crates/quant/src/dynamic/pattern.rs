//! Glob matching for node-name patterns.

/// Whether `name` matches `pattern` as a whole, where `*` in the pattern matches any
/// run of characters (also an empty one) and every other character matches itself.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, rest) = match parts.split_first() {
        Some(split) => split,
        None => return name.is_empty(),
    };
    let Some(mut remaining) = name.strip_prefix(first) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        // No `*`: the pattern is a literal.
        return remaining.is_empty();
    };
    for part in middle {
        match remaining.find(part) {
            Some(at) => remaining = &remaining[at + part.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn literals_and_wildcards() {
        assert!(glob_match("a", "a"));
        assert!(!glob_match("a", "ab"));
        assert!(glob_match("*", ""));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("/layer.0/*", "/layer.0/attention/MatMul"));
        assert!(!glob_match("/layer.0/*", "/layer.1/attention/MatMul"));
        assert!(glob_match("*attention*MatMul", "/layer.3/attention/q/MatMul"));
        assert!(!glob_match("*attention*MatMul", "/layer.3/attention/q/MatMul_1"));
        assert!(glob_match("a*a", "aa"));
        assert!(!glob_match("a*a", "a"));
        assert!(glob_match("**x", "yx"));
    }
}
