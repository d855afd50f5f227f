//! Link snapshots: a run that changes a few of a pair's links records a
//! delta, not the whole set, and the links load the same from a chain of
//! deltas as from the links table.

mod common;

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, Database, Statement};
use tandem_core::Key;
use tandem_core::store::{Commit, LinkUpdate, RunStatus, Side, StateStore};

store_tests!(
    deltas_load_as_the_table_does,
    a_large_commit_leaves_the_table_behind_until_it_is_needed
);

const PAIR: &str = "big";

/// Keys to their hashes, as a pair's links should be.
type Model = BTreeMap<tandem_core::Name, u64>;

/// The pair's links as keys and hashes, and their ids.
async fn loaded(store: &StateStore) -> (Model, Vec<i64>) {
    let set = store.load_link_set(PAIR).await.unwrap();
    let ids = set.rows.iter().map(|r| r.id).collect();
    let links = set
        .rows
        .into_iter()
        .map(|r| (r.a_key.unwrap().0, r.hash_a.unwrap()))
        .collect();
    (links, ids)
}

/// The pair's snapshot rows as (generation, base).
async fn snapshot_rows(url: &str) -> Vec<(i64, i64)> {
    let db = Database::connect(url).await.unwrap();
    let backend = db.get_database_backend();
    let sql = format!(
        "SELECT generation, base FROM link_snapshots WHERE pair = '{PAIR}' ORDER BY generation, part"
    );
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap();
    db.close().await.ok();
    rows.iter()
        .map(|r| {
            (
                r.try_get::<i64>("", "generation").unwrap(),
                r.try_get::<i64>("", "base").unwrap(),
            )
        })
        .collect()
}

fn link(key: &str, hash: u64) -> LinkUpdate {
    LinkUpdate {
        id: None,
        a_key: Some(Key::from(key)),
        b_key: Some(Key::from(key)),
        hash_a: Some(hash),
        hash_b: Some(hash),
        base: None,
        disabled: false,
        day: None,
    }
}

/// Commits `links` and `removed` as a run that loaded the pair's links
/// just before, as the engine does.
async fn run(store: &StateStore, links: Vec<LinkUpdate>, removed: Vec<i64>) {
    let set = store.load_link_set(PAIR).await.unwrap();
    let run = store
        .start_run(PAIR, "send", "manual", false)
        .await
        .unwrap();
    let mut c = Commit::new(run, PAIR, RunStatus::Completed);
    c.links = links;
    c.removed_links = removed;
    c.snapshot = Some(set);
    store.commit(c).await.unwrap();
}

/// A first run that links 400 records; the model of the links it made.
async fn first_load(store: &StateStore) -> Model {
    let mut model = Model::new();
    let first: Vec<LinkUpdate> = (0..400)
        .map(|i| {
            model.insert(format!("k{i:04}").into(), i);
            link(&format!("k{i:04}"), i)
        })
        .collect();
    run(store, first, Vec::new()).await;
    assert_eq!(loaded(store).await.0, model);
    model
}

async fn deltas_load_as_the_table_does(url: &str, store: StateStore) {
    let mut model = first_load(&store).await;
    assert_eq!(snapshot_rows(url).await, [(1, 1)], "a whole snapshot");

    // Each run changes 14 links (one of them to another key), adds 4 and
    // removes 2: 20 of 400, so five
    // deltas fit in a quarter of the links and the sixth run writes a whole
    // snapshot again.
    for round in 0..7u64 {
        let set = store.load_link_set(PAIR).await.unwrap();
        let mut links = Vec::new();
        for (n, row) in set
            .rows
            .iter()
            .skip(round as usize * 20)
            .take(14)
            .enumerate()
        {
            let mut key = row.a_key.clone().unwrap().0;
            let hash = 1000 * (round + 1) + row.id as u64;
            if n == 0 {
                // One link a run moves to another key.
                model.remove(&key);
                key = format!("{key}-moved").into();
            }
            model.insert(key.clone(), hash);
            links.push(LinkUpdate {
                id: Some(row.id),
                ..link(&key, hash)
            });
        }
        for j in 0..4 {
            let key = format!("new{round}-{j}");
            model.insert(key.as_str().into(), j);
            links.push(link(&key, j));
        }
        let mut removed = Vec::new();
        for row in set.rows.iter().rev().skip(round as usize * 3).take(2) {
            model.remove(&row.a_key.clone().unwrap().0);
            removed.push(row.id);
        }
        run(&store, links, removed).await;
        let (links, ids) = loaded(&store).await;
        assert_eq!(links, model, "after round {round}");
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "links in id order");
        let rows = snapshot_rows(url).await;
        let generation = round as i64 + 2;
        let expected: Vec<(i64, i64)> = match round {
            0..=4 => (1..=generation).map(|g| (g, 1)).collect(),
            5 => vec![(7, 7)],
            _ => vec![(7, 7), (8, 7)],
        };
        assert_eq!(rows, expected, "snapshot rows after round {round}");
    }

    // A change by hand forgets the snapshot; the table then gives the same
    // links and ids as the chain did.
    let (before, ids_before) = loaded(&store).await;
    store
        .set_disabled(PAIR, Side::A, &Key::from("k0101"), true)
        .await
        .unwrap();
    assert!(snapshot_rows(url).await.is_empty());
    let set = store.load_link_set(PAIR).await.unwrap();
    let disabled: Vec<&str> = set
        .rows
        .iter()
        .filter(|r| r.disabled)
        .map(|r| r.a_key.as_ref().unwrap().0.as_str())
        .collect();
    assert_eq!(disabled, ["k0101"]);
    let (after, ids_after) = loaded(&store).await;
    assert_eq!(after, before);
    assert_eq!(ids_after, ids_before);
}

/// The pair's links as the links table holds them: keys to hashes, and ids.
async fn table(url: &str) -> (Model, Vec<i64>) {
    let db = Database::connect(url).await.unwrap();
    let backend = db.get_database_backend();
    let sql = format!("SELECT id, a_key, hash_a FROM links WHERE pair = '{PAIR}' ORDER BY id");
    let rows = db
        .query_all_raw(Statement::from_string(backend, sql))
        .await
        .unwrap();
    db.close().await.ok();
    let ids = rows
        .iter()
        .map(|r| r.try_get::<i64>("", "id").unwrap())
        .collect();
    let links = rows
        .iter()
        .map(|r| {
            let key: String = r.try_get("", "a_key").unwrap();
            let hash: i64 = r.try_get("", "hash_a").unwrap();
            (key.into(), hash as u64)
        })
        .collect();
    (links, ids)
}

/// One run's changes: `changed` links get new hashes, the first two of them
/// swap their keys, `added` new links, and the last `removed` go.
async fn churn(store: &StateStore, model: &mut Model, round: u64, changed: usize, added: usize) {
    let set = store.load_link_set(PAIR).await.unwrap();
    let mut links = Vec::new();
    let rows: Vec<_> = set.rows.iter().take(changed).collect();
    for (n, row) in rows.iter().enumerate() {
        let own = row.a_key.clone().unwrap().0;
        // The first two links trade keys: each takes a key the other holds.
        let key = match n {
            0 => rows[1].a_key.clone().unwrap().0,
            1 => rows[0].a_key.clone().unwrap().0,
            _ => own,
        };
        let hash = 10_000 * (round + 1) + row.id as u64;
        links.push(LinkUpdate {
            id: Some(row.id),
            ..link(&key, hash)
        });
    }
    for row in &rows {
        model.remove(&row.a_key.clone().unwrap().0);
    }
    for l in &links {
        model.insert(l.a_key.clone().unwrap().0, l.hash_a.unwrap());
    }
    for j in 0..added as u64 {
        let key = format!("add{round}-{j}");
        model.insert(key.as_str().into(), j);
        links.push(link(&key, j));
    }
    let last = set.rows.last().unwrap();
    model.remove(&last.a_key.clone().unwrap().0);
    run(store, links, vec![last.id]).await;
}

async fn a_large_commit_leaves_the_table_behind_until_it_is_needed(url: &str, store: StateStore) {
    let store = store.defer_link_table_from(300);
    let mut model = first_load(&store).await;
    assert!(
        table(url).await.0.is_empty(),
        "the first load left the table behind"
    );

    // Small runs after it stay in the snapshot too: the table is behind.
    for round in 0..3 {
        churn(&store, &mut model, round, 10, 3).await;
        assert_eq!(loaded(&store).await.0, model, "after round {round}");
        assert!(table(url).await.0.is_empty(), "after round {round}");
    }

    // A store opened again reads the same links from the snapshot.
    let again = StateStore::open(url)
        .await
        .unwrap()
        .defer_link_table_from(300);
    let (links, ids) = loaded(&again).await;
    assert_eq!(links, model);

    // A lookup by key brings the table up to the snapshot, ids and all.
    let found = again
        .link_by_key(PAIR, Side::A, &Key::from("k0200"))
        .await
        .unwrap()
        .expect("k0200 is linked");
    assert_eq!(found.hash_a, Some(200));
    assert_eq!(table(url).await, (links, ids));

    // With the table current, a small run writes it as it goes.
    churn(&again, &mut model, 3, 10, 3).await;
    assert_eq!(table(url).await.0, model);
    assert_eq!(loaded(&again).await.0, model);

    // A large run leaves it behind again, with two links trading keys; a
    // change by hand brings it up to date without tripping over the keys,
    // and ids given since never collide.
    churn(&again, &mut model, 4, 350, 5).await;
    assert_ne!(
        table(url).await.0,
        model,
        "the large run left the table behind"
    );
    again
        .set_disabled(PAIR, Side::A, &Key::from("k0300"), true)
        .await
        .unwrap();
    let (links, ids) = loaded(&again).await;
    assert_eq!(links, model);
    assert_eq!(table(url).await, (links, ids.clone()));
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids are unique");
    churn(&again, &mut model, 5, 0, 3).await;
    assert_eq!(table(url).await.0, model);
}
