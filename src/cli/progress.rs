//! Progress bars for long replays and exports. They draw on stderr only when it is a terminal,
//! so piped output and CI logs stay clean.

use indicatif::{ProgressBar, ProgressStyle};
use store::guard::Watch;

/// A bar for `total` items of `what`.
pub fn bar(total: u64, what: &'static str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} events ({per_sec}, eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what);
    bar
}

/// A `(done, total)` callback that moves `bar` and tells `watch` the reading progresses
/// (the deadline of a read-only command restarts with each call).
pub fn callback<'a>(bar: &'a ProgressBar, watch: &'a Watch) -> impl FnMut(u64, u64) + 'a {
    move |done, total| {
        watch.step();
        bar.set_length(total);
        bar.set_position(done);
    }
}
