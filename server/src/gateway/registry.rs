//! Per-connection prepared statements, with dqlite's id allocation: the
//! lowest free slot. Looking up a freed or unknown id is an ordinary
//! miss (the C server crashes on some freed ids; we answer a failure).

/// Statements by id.
#[derive(Debug)]
pub(crate) struct Registry<T> {
    slots: Vec<Option<T>>,
    held: usize,
}

impl<T> Default for Registry<T> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            held: 0,
        }
    }
}

impl<T> Registry<T> {
    /// Stores `value` in the lowest free slot; `None` if ids ran out.
    pub(crate) fn insert(&mut self, value: T) -> Option<u32> {
        let index = match self.slots.iter().position(Option::is_none) {
            Some(free) => free,
            None => {
                self.slots.push(None);
                self.slots.len() - 1
            }
        };
        let id = u32::try_from(index).ok()?;
        self.slots[index] = Some(value);
        self.held += 1;
        Some(id)
    }

    /// Values held.
    pub(crate) fn len(&self) -> usize {
        self.held
    }

    pub(crate) fn get(&self, id: u32) -> Option<&T> {
        self.slots.get(usize::try_from(id).ok()?)?.as_ref()
    }

    pub(crate) fn remove(&mut self, id: u32) -> Option<T> {
        let index = usize::try_from(id).ok()?;
        let value = self.slots.get_mut(index)?.take();
        if value.is_some() {
            self.held -= 1;
        }
        while self.slots.last().is_some_and(Option::is_none) {
            self.slots.pop();
        }
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_free_slot_is_reused() {
        // Spec §7.2: with 0, 1, 2 alive, finalize 2 then 0: the next two
        // ids are 0 and 2.
        let mut r = Registry::default();
        assert_eq!(
            [r.insert('a'), r.insert('b'), r.insert('c')],
            [Some(0), Some(1), Some(2)]
        );
        assert_eq!(r.remove(2), Some('c'));
        assert_eq!(r.remove(0), Some('a'));
        assert_eq!([r.insert('d'), r.insert('e')], [Some(0), Some(2)]);
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn freed_and_unknown_ids_miss() {
        // Spec §13 #45: finalizing twice (a freed slot below a live one).
        let mut r = Registry::default();
        r.insert(1);
        r.insert(2);
        assert_eq!(r.remove(0), Some(1));
        assert_eq!(r.remove(0), None);
        assert_eq!(r.get(0), None);
        assert_eq!(r.get(7), None);
        assert_eq!(r.get(u32::MAX), None);
        assert_eq!(r.get(1), Some(&2));
    }
}
