//! What a device will draw before it signs, predicted screen by screen, so that the preview
//! can list the very screens the holder is about to read on the device. One module per device
//! family; the words come from [`recorded`], where a reader can check them against the spec.

pub mod ledger;
pub mod recorded;
pub mod trezor;

/// One screen: every line of text it shows, top to bottom.
pub type Screen = Vec<String>;

/// Breaks `text` into lines of at most `width` characters: at spaces where it can, inside a
/// word longer than a line where it must (addresses, hashes, long numbers).
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut rest = word;
        loop {
            let needed = if line.is_empty() { rest.len() } else { line.len() + 1 + rest.len() };
            if needed <= width {
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(rest);
                break;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                continue;
            }
            let cut = rest.char_indices().nth(width).map_or(rest.len(), |(at, _)| at);
            lines.push(rest[..cut].to_owned());
            rest = &rest[cut..];
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_break_at_spaces_and_inside_words_too_long_for_one() {
        assert_eq!(wrap("To accept risk, press both buttons", 19), ["To accept risk,", "press both buttons"]);
        assert_eq!(wrap("Blind signing ahead", 19), ["Blind signing ahead"]);
        assert_eq!(
            wrap("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266", 19),
            ["0xf39Fd6e51aad88F6F", "4ce6aB8827279cffFb9", "2266"]
        );
        assert_eq!(wrap("0.000129748030572384 ???", 19), ["0.00012974803057238", "4 ???"]);
        assert_eq!(wrap("", 19), [""]);
    }
}
