//! Splits a JSON page into the raw text of its items, so each listed incident keeps the bytes
//! the service sent (`IncidentRecord::raw_json`) without serde_json's `raw_value` feature (which
//! would rebuild serde_json and everything above it).
//!
//! Invariant: a scanner only — it runs on a body serde_json has already accepted, and answers
//! `None` (the caller then re-serialises) for anything it does not recognise; every loop advances.

/// The raw text of each element of the top-level array `key` of a JSON object, in order; `None`
/// if `body` is not such an object. Only splits: the caller has already parsed `body`, so the
/// slices are valid JSON whenever the split succeeds.
pub fn raw_array_items<'a>(body: &'a [u8], key: &str) -> Option<Vec<&'a str>> {
    let text = std::str::from_utf8(body).ok()?;
    let b = text.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i += 1;
    loop {
        i = skip_ws(b, i);
        match b.get(i)? {
            b'}' => return None,
            b'"' => {}
            _ => return None,
        }
        let k_end = skip_string(b, i)?;
        let k = &text[i + 1..k_end - 1];
        i = skip_ws(b, k_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        if k == key {
            if b.get(i) != Some(&b'[') {
                return None;
            }
            i += 1;
            let mut out = Vec::new();
            loop {
                i = skip_ws(b, i);
                if b.get(i) == Some(&b']') {
                    return Some(out);
                }
                let end = skip_value(b, i)?;
                out.push(&text[i..end]);
                i = skip_ws(b, end);
                match b.get(i)? {
                    b',' => i += 1,
                    b']' => return Some(out),
                    _ => return None,
                }
            }
        }
        i = skip_ws(b, skip_value(b, i)?);
        match b.get(i)? {
            b',' => i += 1,
            _ => return None,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// `b[i]` is `"`: the index after the closing quote.
fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The index after the JSON value starting at `b[i]`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']') && !b[j].is_ascii_whitespace()
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}
