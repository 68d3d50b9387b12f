//! The database connection lives on its own thread (rusqlite connections
//! are not `Sync`); async code sends it closures and awaits the answer.

use std::path::Path;
use std::sync::mpsc;

use enki_store::{Store, StoreError};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// A cheap, cloneable handle to the database thread.
#[derive(Clone)]
pub struct Db {
    jobs: mpsc::Sender<Job>,
}

impl Db {
    /// Opens the store on a new thread. The thread ends when every handle is dropped.
    pub fn open(path: &Path) -> Result<Db, StoreError> {
        let store = Store::open_existing(path)?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("enki-db".into())
            .spawn(move || {
                let mut store = store;
                while let Ok(job) = queue.recv() {
                    job(&mut store);
                }
            })
            .map_err(|e| StoreError::Invalid(format!("cannot start the database thread: {e}")))?;
        Ok(Db { jobs })
    }

    /// Runs `f` on the database thread and returns its result.
    pub async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Store) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |store| {
            let _ = reply.send(f(store));
        });
        self.jobs
            .send(job)
            .map_err(|_| StoreError::Invalid("the database thread has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Invalid("the database thread dropped a request".into()))?
    }
}
