//! Placeholder: the trezor simulator is being written.
