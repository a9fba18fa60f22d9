//! The words every message shares, in one place, so that every rule says
//! the same thing the same way.

/// A user-supplied value quoted for a message, cut short when long: an
/// admission message echoes it back to the client and into audit logs.
pub fn quoted(value: &str) -> String {
    const SHOWN: usize = 64;
    if value.len() <= SHOWN {
        return format!("{value:?}");
    }
    let cut = (0..=SHOWN)
        .rev()
        .find(|&i| value.is_char_boundary(i))
        .unwrap_or(0);
    format!("{:?}… ({} bytes)", &value[..cut], value.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::short("true", "\"true\"")]
    #[case::long(&"x".repeat(100), &format!("{:?}… (100 bytes)", "x".repeat(64)))]
    #[case::multibyte_boundary(&"é".repeat(40), &format!("{:?}… (80 bytes)", "é".repeat(32)))]
    fn values_are_quoted_and_bounded(#[case] value: &str, #[case] shown: &str) {
        assert_eq!(quoted(value), shown);
    }
}
