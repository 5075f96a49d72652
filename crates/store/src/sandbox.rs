//! The sandbox PG's own tables (its billing keys and its ledger of approvals and cancels).
