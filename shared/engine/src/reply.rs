//! Channel-neutral replies. Channels decide how they look (numbered text, buttons...).

use serde::{Deserialize, Serialize};

/// One thing to tell the user, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// An answer or a label. May contain HTML (bot answers do; labels usually don't).
    Text(String),
    /// A question with choices the user answers by number or by label.
    ///
    /// All choices of one turn share one numbering space: `first_number` is the number of the
    /// first option, so a related-contents list followed by a yes/no question reads 1-2, 3-4
    /// and every option shown stays answerable.
    Choice {
        text: String,
        options: Vec<String>,
        first_number: usize,
        /// Said next to numbered options ("(type a number)"); channels with buttons ignore it.
        number_hint: String,
    },
}
