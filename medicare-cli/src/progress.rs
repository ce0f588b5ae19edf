//! Progress bars for long sends (on standard error, hidden when it is not a terminal).

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use medicare_core::campaign::SendObserver;
use medicare_core::notify::Channel;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// One bar per channel.
pub struct Bars {
    multi: Option<MultiProgress>,
    bars: Mutex<BTreeMap<Channel, ProgressBar>>,
}

impl Bars {
    /// Bars drawn on standard error when `show` (and it is a terminal).
    pub fn new(show: bool) -> Self {
        let multi = show.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Bars {
            multi,
            bars: Mutex::new(BTreeMap::new()),
        }
    }

    /// Clears the bars.
    pub fn finish(&self) {
        for bar in self.bars.lock().expect("bars lock").values() {
            bar.finish();
        }
    }
}

impl SendObserver for Bars {
    fn started(&self, channel: Channel, to_send: u64) {
        let Some(multi) = &self.multi else { return };
        let bar = multi.add(ProgressBar::new(to_send));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>6} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(channel.as_str());
        self.bars.lock().expect("bars lock").insert(channel, bar);
    }

    fn recorded(&self, channel: Channel, sent: u64, failed: u64) {
        if let Some(bar) = self.bars.lock().expect("bars lock").get(&channel) {
            bar.inc(sent + failed);
        }
    }
}
