//! Locations of the values in a JSON text that `serde_json` already accepted
//! (it keeps none), found by a small second scan.

use super::locations::{Kids, Loc};

pub(super) fn scan(text: &str) -> Option<Loc> {
    Scanner { text, i: 0 }.value()
}

struct Scanner<'a> {
    text: &'a str,
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Option<Loc> {
        self.ws();
        let at = Some(self.i);
        let kids = match self.peek()? {
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.peek()? == b'}' {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        let key_at = self.i;
                        let key = self.string()?;
                        self.ws();
                        if self.peek()? != b':' {
                            return None;
                        }
                        self.i += 1;
                        let value = self.value()?;
                        members.push((key, key_at, value));
                        if !self.separator(b'}')? {
                            break;
                        }
                    }
                }
                Kids::Object(members)
            }
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                } else {
                    loop {
                        items.push(self.value()?);
                        if !self.separator(b']')? {
                            break;
                        }
                    }
                }
                Kids::Array(items)
            }
            b'"' => {
                self.string()?;
                Kids::Leaf
            }
            _ => {
                while !matches!(
                    self.peek(),
                    None | Some(b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n')
                ) {
                    self.i += 1;
                }
                Kids::Leaf
            }
        };
        Some(Loc { at, kids })
    }

    /// After a member or item: `,` → true (more follow), `close` → false.
    fn separator(&mut self, close: u8) -> Option<bool> {
        self.ws();
        let b = self.peek()?;
        self.i += 1;
        if b == b',' {
            Some(true)
        } else if b == close {
            Some(false)
        } else {
            None
        }
    }

    fn string(&mut self) -> Option<String> {
        let start = self.i;
        if self.peek()? != b'"' {
            return None;
        }
        self.i += 1;
        loop {
            match self.peek()? {
                b'\\' => self.i += 2,
                b'"' => {
                    self.i += 1;
                    return serde_json::from_str(self.text.get(start..self.i)?).ok();
                }
                _ => self.i += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::script::test_support::{invalid, json_script};

    #[test]
    fn json_errors_have_lines_too() {
        let text = "{\n  \"turn\": [\n    {\"steps\": [\n      {\"say\": \"a\"},\n      {\"say\": \"b\", \"x\\u0041\": 1}\n    ]}\n  ]\n}\n";
        let (message, line, at) = invalid(json_script(text));
        assert_eq!(line, Some(5), "{message}");
        assert_eq!(at.as_deref(), Some("turn 1, step 2"));
        assert!(message.contains("unknown key `xA`"), "{message}");
        assert!(message.starts_with("s.json:5: "), "{message}");
    }
}
