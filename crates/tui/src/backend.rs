//! The store thread: reads snapshots for the panes, runs operations and
//! fetches overlay text, so the UI thread never waits on SQLite. Requests
//! that pile up are handled together (one refresh for many events); a slow
//! tick catches changes made by other processes. Only snapshots that
//! differ from the last one are sent, so an idle session sends nothing.

use enki_core::usage::Prices;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

use enki_project::Layout;
use enki_store::{MailFilter, Store};
use enki_views::{
    dag_text, gather_dag, gather_task_detail, mail_list_text, message_text, task_detail_text,
};

use crate::data::{Snapshot, read_snapshot};
use crate::msg::{Fetch, Msg, StoreRequest};
use crate::ops;

/// How often the store is read when nothing asked for it.
pub const SLOW_TICK: Duration = Duration::from_secs(3);

/// Starts the thread; it ends when the returned sender or the UI's
/// receiver is dropped.
pub fn spawn(
    layout: Layout,
    session: String,
    prices: Prices,
    ui: Sender<Msg>,
) -> std::io::Result<Sender<StoreRequest>> {
    let (tx, rx) = channel();
    std::thread::Builder::new()
        .name("enki-tui-store".into())
        .spawn(move || serve(&layout, &session, &prices, &rx, &ui))?;
    Ok(tx)
}

fn serve(
    layout: &Layout,
    session: &str,
    prices: &Prices,
    rx: &Receiver<StoreRequest>,
    ui: &Sender<Msg>,
) {
    let db: PathBuf = layout.db();
    let mut store = match Store::open_existing(&db) {
        Ok(store) => store,
        Err(e) => {
            let _ = ui.send(Msg::Notice(format!("cannot open the database: {e}")));
            return;
        }
    };
    let mut last: Option<Snapshot> = None;
    let mut first = true;
    loop {
        let mut batch = Vec::new();
        if first {
            first = false;
            batch.push(StoreRequest::Refresh);
        } else {
            match rx.recv_timeout(SLOW_TICK) {
                Ok(request) => batch.push(request),
                Err(RecvTimeoutError::Timeout) => batch.push(StoreRequest::Refresh),
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        batch.extend(rx.try_iter());
        let mut refresh = false;
        for request in batch {
            let reply = match request {
                StoreRequest::Refresh => {
                    refresh = true;
                    None
                }
                StoreRequest::Op(op) => {
                    refresh = true;
                    Some(Msg::OpDone(ops::run(layout, &mut store, session, &op)))
                }
                StoreRequest::Fetch(Fetch::Review(task)) => Some(Msg::ReviewLoaded {
                    review: enki_coordinator::review::review_of(layout, &store, &task)
                        .map(Box::new),
                    task,
                }),
                StoreRequest::Fetch(fetch) => Some(fetch_text(&store, &fetch, prices)),
                StoreRequest::MarkRead(id) => {
                    refresh = true;
                    store
                        .mark_read(&id)
                        .err()
                        .map(|e| Msg::Notice(format!("cannot mark {id} read: {e}")))
                }
            };
            if let Some(reply) = reply
                && ui.send(reply).is_err()
            {
                return;
            }
        }
        if refresh {
            match read_snapshot(&store, session) {
                Ok(snapshot) => {
                    if last.as_ref() != Some(&snapshot) {
                        last = Some(snapshot.clone());
                        if ui.send(Msg::Snapshot(snapshot)).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => {
                    let _ = ui.send(Msg::Notice(format!("cannot read the database: {e}")));
                }
            }
        }
    }
}

fn fetch_text(store: &Store, fetch: &Fetch, prices: &Prices) -> Msg {
    let (title, text) = match fetch {
        Fetch::Dag(execution) => {
            let text = execution
                .as_deref()
                .map(|e| store.resolve_execution(e))
                .transpose()
                .and_then(|id| gather_dag(store, id.as_deref(), None))
                .map(|dags| dag_text(&dags));
            ("Dependency graph".to_string(), text)
        }
        Fetch::Mail => {
            let text = store
                .messages(&MailFilter::default())
                .map(|messages| mail_list_text(&messages));
            ("Mail".to_string(), text)
        }
        Fetch::Message(id) => {
            let text = store.message(id).and_then(|m| {
                m.map(|m| message_text(&m))
                    .ok_or_else(|| enki_store::StoreError::Invalid(format!("no message {id}")))
            });
            ("Message".to_string(), text)
        }
        Fetch::Review(id) => {
            // Answered as `Msg::ReviewLoaded` (see `serve`).
            let text = Err(enki_store::StoreError::Invalid(format!(
                "the review of {id} is not text"
            )));
            ("Review".to_string(), text)
        }
        Fetch::Task(id) => {
            let text =
                gather_task_detail(store, id, prices).map(|detail| task_detail_text(&detail));
            ("Task".to_string(), text)
        }
    };
    Msg::Fetched {
        title,
        text: text.map_err(|e| e.to_string()),
    }
}
