//! Events in seconds, lists of them, ordered class names and clip-level (weak) labels.

use crate::time::Span;
use serde::{Deserialize, Serialize};

/// One sound event: a labelled stretch `[onset, offset]` of a file, in seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The file (recording id) the event is in, as written in annotation files.
    pub file: String,
    /// Start in seconds from the start of the file.
    pub onset: f64,
    /// End in seconds from the start of the file.
    pub offset: f64,
    /// Class name.
    pub label: String,
}

impl Event {
    pub fn new(file: impl Into<String>, onset: f64, offset: f64, label: impl Into<String>) -> Self {
        Event {
            file: file.into(),
            onset,
            offset,
            label: label.into(),
        }
    }

    /// `offset − onset` in seconds.
    pub fn duration(&self) -> f64 {
        self.offset - self.onset
    }

    /// The event's stretch of time.
    pub fn span(&self) -> Span {
        Span::new(self.onset, self.offset)
    }
}

/// A list of events, in the order given (files and labels may be mixed).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventList {
    pub events: Vec<Event>,
}

impl EventList {
    pub fn new(events: Vec<Event>) -> Self {
        EventList { events }
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn push(&mut self, event: Event) {
        self.events.push(event);
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Event> {
        self.events.iter()
    }

    pub fn as_slice(&self) -> &[Event] {
        &self.events
    }

    pub fn into_vec(self) -> Vec<Event> {
        self.events
    }

    /// The distinct file names, in order of first appearance.
    pub fn files(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for e in &self.events {
            if !out.contains(&e.file.as_str()) {
                out.push(&e.file);
            }
        }
        out
    }

    /// The events of one file, in list order.
    pub fn for_file(&self, file: &str) -> EventList {
        self.filter(|e| e.file == file)
    }

    /// The events of one class, in list order.
    pub fn for_label(&self, label: &str) -> EventList {
        self.filter(|e| e.label == label)
    }

    /// The events for which `keep` is true, in list order.
    pub fn filter(&self, keep: impl Fn(&Event) -> bool) -> EventList {
        EventList::new(self.events.iter().filter(|e| keep(e)).cloned().collect())
    }

    /// The distinct labels, sorted (the DCASE habit: classes in alphabetical order).
    pub fn labels(&self) -> LabelSet {
        let mut names: Vec<String> = self.events.iter().map(|e| e.label.clone()).collect();
        names.sort();
        LabelSet::new(names)
    }

    /// A copy sorted by file, onset, offset, then label (total order on floats).
    pub fn sorted(&self) -> EventList {
        let mut events = self.events.clone();
        events.sort_by(|a, b| {
            a.file
                .cmp(&b.file)
                .then(a.onset.total_cmp(&b.onset))
                .then(a.offset.total_cmp(&b.offset))
                .then(a.label.cmp(&b.label))
        });
        EventList::new(events)
    }
}

impl From<Vec<Event>> for EventList {
    fn from(events: Vec<Event>) -> Self {
        EventList::new(events)
    }
}

impl FromIterator<Event> for EventList {
    fn from_iter<I: IntoIterator<Item = Event>>(iter: I) -> Self {
        EventList::new(iter.into_iter().collect())
    }
}

impl IntoIterator for EventList {
    type Item = Event;
    type IntoIter = std::vec::IntoIter<Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.events.into_iter()
    }
}

impl<'a> IntoIterator for &'a EventList {
    type Item = &'a Event;
    type IntoIter = std::slice::Iter<'a, Event>;
    fn into_iter(self) -> Self::IntoIter {
        self.events.iter()
    }
}

/// Ordered class names; a class's index is its column in score arrays.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LabelSet {
    names: Vec<String>,
}

impl LabelSet {
    /// The names in the order given; a repeated name keeps its first place.
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut out: Vec<String> = Vec::new();
        for n in names {
            let n = n.into();
            if !out.contains(&n) {
                out.push(n);
            }
        }
        LabelSet { names: out }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The column of `name`, if it is one of the classes.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.index_of(name).is_some()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.names.iter()
    }
}

/// Clip-level (weak) labels: the classes present somewhere in a file; empty for a negative clip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeakLabel {
    pub file: String,
    pub labels: Vec<String>,
}

impl WeakLabel {
    pub fn new<I, S>(file: impl Into<String>, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        WeakLabel {
            file: file.into(),
            labels: labels.into_iter().map(Into::into).collect(),
        }
    }

    pub fn has(&self, label: &str) -> bool {
        self.labels.iter().any(|l| l == label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_helpers() {
        let l = EventList::new(vec![
            Event::new("b.wav", 2.0, 3.0, "dog"),
            Event::new("a.wav", 1.0, 2.0, "cat"),
            Event::new("b.wav", 0.5, 1.0, "cat"),
        ]);
        assert_eq!(l.files(), vec!["b.wav", "a.wav"]);
        assert_eq!(l.for_file("b.wav").len(), 2);
        assert_eq!(l.for_label("cat").len(), 2);
        assert_eq!(l.labels().names(), &["cat".to_string(), "dog".to_string()]);
        let s = l.sorted();
        assert_eq!(s.events[0].file, "a.wav");
        assert_eq!(s.events[1].onset, 0.5);
        assert!((l.events[0].duration() - 1.0).abs() < 1e-12);
        let ls = LabelSet::new(["x", "y", "x"]);
        assert_eq!(ls.len(), 2);
        assert_eq!(ls.index_of("y"), Some(1));
        assert!(WeakLabel::new("a", ["x"]).has("x"));
    }
}
