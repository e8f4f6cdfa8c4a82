//! Build secrets (`kiln build --secret`): values a RUN step may read
//! through `--mount=type=secret`. They live in this process's memory and,
//! during a step that mounts one, in a tmpfs or the step's environment;
//! never in a key, a layer, the store, history or a message.

use std::collections::BTreeMap;
use std::fmt;

/// BuildKit's limit on one secret (`MaxSecretSize`).
pub const MAX_SECRET_SIZE: usize = 500 * 1024;

/// The secrets of one build, by id.
#[derive(Clone, Default)]
pub struct Secrets(BTreeMap<String, Vec<u8>>);

impl Secrets {
    /// Adds (or replaces) a secret. Refused when it is over
    /// [`MAX_SECRET_SIZE`].
    pub fn insert(&mut self, id: &str, value: Vec<u8>) -> Result<(), String> {
        if id.is_empty() {
            return Err("secret missing ID".to_string());
        }
        if value.len() > MAX_SECRET_SIZE {
            return Err(format!("secret {id} too big. max size 500KB"));
        }
        self.0.insert(id.to_string(), value);
        Ok(())
    }

    /// A secret's value.
    pub fn get(&self, id: &str) -> Option<&[u8]> {
        self.0.get(id).map(Vec::as_slice)
    }
}

/// Lists the ids only: a value must not reach a log through `{:?}`.
impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_stay_out_of_debug_output() {
        let mut s = Secrets::default();
        s.insert("tok", b"hunter2".to_vec()).unwrap();
        assert_eq!(format!("{s:?}"), "{\"tok\"}");
        assert_eq!(s.get("tok"), Some(&b"hunter2"[..]));
        assert!(s.insert("", vec![]).is_err());
        let big = vec![0u8; MAX_SECRET_SIZE + 1];
        assert_eq!(
            s.insert("big", big),
            Err("secret big too big. max size 500KB".to_string())
        );
    }
}
