//! An in-memory journal: the fake for tests and demos. Same contract, nothing durable.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{Journal, JournalError};
use crate::engine::{OrderEpoch, SaleRecord};

#[derive(Debug, Default)]
pub struct MemoryJournal {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    records: BTreeMap<String, SaleRecord>,
    last_seq: u64,
}

impl MemoryJournal {
    pub fn new() -> MemoryJournal {
        MemoryJournal::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (each operation is one
        // insert), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Journal for MemoryJournal {
    fn put(&self, record: &SaleRecord) -> Result<(), JournalError> {
        let mut inner = self.lock();
        inner.last_seq = inner.last_seq.max(record.seq);
        inner.records.insert(record.sale_id.clone(), record.clone());
        Ok(())
    }

    fn get(&self, sale_id: &str) -> Result<Option<SaleRecord>, JournalError> {
        Ok(self.lock().records.get(sale_id).cloned())
    }

    fn load_all(&self) -> Result<Vec<SaleRecord>, JournalError> {
        let mut records: Vec<_> = self.lock().records.values().cloned().collect();
        records.sort_by_key(|r| r.seq);
        Ok(records)
    }

    fn last_seq(&self) -> Result<u64, JournalError> {
        Ok(self.lock().last_seq)
    }

    /// Always the same: a fake is not a terminal's store.
    fn epoch(&self) -> Result<OrderEpoch, JournalError> {
        Ok(OrderEpoch::from_random([0; 4]))
    }
}
