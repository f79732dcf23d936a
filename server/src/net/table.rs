//! The node's open client connections, for the connection limit: when it
//! is reached, a new connection takes the place of the connection that has
//! been idle longest (between requests, or silent since it connected);
//! only when every connection is in the middle of a request is the new one
//! turned away.
//!
//! Connection tasks all run on the node's thread, so the table is shared
//! as `Rc<RefCell<_>>`; a [`Slot`] removes its connection when dropped.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use tokio::sync::Notify;

/// One open connection.
#[derive(Debug)]
struct Entry {
    /// When it last finished a request (or connected).
    idle_since: Instant,
    /// Whether a request of it is being answered.
    busy: bool,
    /// Told when the connection is to be closed.
    close: Rc<Notify>,
}

/// The open client connections of one node.
#[derive(Debug)]
pub(crate) struct Table {
    max: usize,
    next: u64,
    entries: HashMap<u64, Entry>,
}

/// What admitting a connection did.
#[derive(Debug)]
pub(crate) enum Admitted {
    /// A free place.
    Free(Slot),
    /// The place of the longest-idle connection, closed for it.
    Evicted {
        /// The new connection's slot.
        slot: Slot,
        /// How long the evicted one had been idle.
        idle: std::time::Duration,
    },
    /// Every place taken by a connection in the middle of a request.
    Full,
}

impl Table {
    /// A table for at most `max` connections.
    pub(crate) fn new(max: usize) -> Rc<RefCell<Table>> {
        Rc::new(RefCell::new(Table {
            max: max.max(1),
            next: 0,
            entries: HashMap::new(),
        }))
    }

    /// Takes a place for a new connection, closing the longest-idle one if
    /// the table is full.
    pub(crate) fn admit(table: &Rc<RefCell<Table>>, now: Instant) -> Admitted {
        let mut t = table.borrow_mut();
        let mut evicted = None;
        if t.entries.len() >= t.max {
            let victim = t
                .entries
                .iter()
                .filter(|(_, e)| !e.busy)
                .min_by_key(|(_, e)| e.idle_since)
                .map(|(id, _)| *id);
            let Some(victim) = victim else {
                return Admitted::Full;
            };
            if let Some(entry) = t.entries.remove(&victim) {
                entry.close.notify_one();
                evicted = Some(now.saturating_duration_since(entry.idle_since));
            }
        }
        t.next += 1;
        let id = t.next;
        let close = Rc::new(Notify::new());
        t.entries.insert(
            id,
            Entry {
                idle_since: now,
                busy: false,
                close: close.clone(),
            },
        );
        let slot = Slot {
            table: table.clone(),
            id,
            close,
        };
        match evicted {
            Some(idle) => Admitted::Evicted { slot, idle },
            None => Admitted::Free(slot),
        }
    }
}

/// A connection's place in the [`Table`]; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Slot {
    table: Rc<RefCell<Table>>,
    id: u64,
    close: Rc<Notify>,
}

impl Slot {
    /// Resolves when the connection must close (it was evicted).
    pub(crate) async fn closed(&self) {
        self.close.notified().await;
    }

    /// A request of this connection is being answered: it cannot be
    /// evicted meanwhile.
    pub(crate) fn busy(&self) {
        if let Some(e) = self.table.borrow_mut().entries.get_mut(&self.id) {
            e.busy = true;
        }
    }

    /// The connection finished a request at `now` and waits for the next.
    pub(crate) fn idle(&self, now: Instant) {
        if let Some(e) = self.table.borrow_mut().entries.get_mut(&self.id) {
            e.busy = false;
            e.idle_since = now;
        }
    }

    /// Leaves the table early (the connection turned out to be another
    /// node's, which the client limit does not cover).
    pub(crate) fn release(self) {}
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.table.borrow_mut().entries.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_full_table_evicts_the_longest_idle_connection() {
        let table = Table::new(2);
        let t0 = Instant::now();
        let Admitted::Free(a) = Table::admit(&table, t0) else {
            panic!("room for a")
        };
        let Admitted::Free(b) = Table::admit(&table, t0 + Duration::from_secs(1)) else {
            panic!("room for b")
        };
        // a answers a request and goes idle after b: b is the oldest now.
        a.busy();
        a.idle(t0 + Duration::from_secs(2));
        let c = match Table::admit(&table, t0 + Duration::from_secs(5)) {
            Admitted::Evicted { slot, idle } => {
                assert_eq!(idle, Duration::from_secs(4));
                slot
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(table.borrow().entries.len(), 2);
        // b was told to close.
        {
            let notified = b.closed();
            futures_util::pin_mut!(notified);
            assert!(futures_util::FutureExt::now_or_never(notified).is_some());
        }
        drop(b);
        assert_eq!(table.borrow().entries.len(), 2, "b's place went to c");
        // Busy connections are never evicted.
        a.busy();
        c.busy();
        assert!(matches!(
            Table::admit(&table, t0 + Duration::from_secs(9)),
            Admitted::Full
        ));
        c.idle(t0 + Duration::from_secs(9));
        drop(c);
        assert_eq!(table.borrow().entries.len(), 1);
        assert!(matches!(
            Table::admit(&table, t0 + Duration::from_secs(9)),
            Admitted::Free(_)
        ));
    }
}
