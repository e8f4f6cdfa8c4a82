//! Fuzz target for the shell word lexer alone.
//!
//! Input layout: byte 0 picks the lexer options (bit 0 backtick escape,
//! then raw quotes, raw escapes, skip unset, skip quote processing); the
//! rest, read as lossy UTF-8, is the word up to the first newline, then
//! one `KEY=value` environment entry per line (the image-config form
//! `Env for [String]` reads).

#![no_main]

use kiln_parser::shell::{Error, Lexer};
use libfuzzer_sys::fuzz_target;

/// A limit below the 16 MiB default keeps each input fast; the limit
/// checks are the same code at any size.
const WORD_LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&opts, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let mut lines = text.split('\n');
    let word = lines.next().unwrap_or_default();
    let env: Vec<String> = lines.map(str::to_owned).collect();
    let lexer = Lexer::new(if opts & 1 != 0 { '`' } else { '\\' })
        .raw_quotes(opts & 2 != 0)
        .raw_escapes(opts & 4 != 0)
        .skip_unset_env(opts & 8 != 0)
        .skip_process_quotes(opts & 16 != 0)
        .max_len(WORD_LIMIT);
    match lexer.process_word(word, &env) {
        Ok(e) => {
            assert!(e.value.len() <= WORD_LIMIT, "{} bytes", e.value.len());
            assert!(e.used.is_disjoint(&e.unset), "{e:?}");
        }
        Err(e) => check(&e, word),
    }
    match lexer.process_words(word, &env) {
        Ok(words) => {
            assert!(
                words.iter().all(|w| !w.is_empty()),
                "empty word in {words:?}"
            );
        }
        Err(e) => check(&e, word),
    }
});

fn check(e: &Error, word: &str) {
    assert!(
        e.offset() <= word.len(),
        "offset {} past {word:?}",
        e.offset()
    );
    let _ = e.to_string();
}
