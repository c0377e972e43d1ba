//! Placeholder: the ledger simulator is being written.
