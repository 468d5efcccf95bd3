-- How many intake batches have been committed for the mailbox. Intake ends each batch with a
-- synced transaction that counts it (Store::batch_synced): the one write that always changes a
-- page, so that commit syncs the log and with it the batch's earlier, unsynced commits, before
-- the batch's mails are moved out of the inbox.
ALTER TABLE mailbox_state ADD COLUMN batches INTEGER NOT NULL DEFAULT 0;
