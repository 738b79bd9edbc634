//! Party resolution: accounts grouped into the parties that control them.
//!
//! Accounts sharing a `customer_id` are one party; when configured, so are accounts
//! sharing a link attribute (`phone_hash`, `address_hash`, `device_hash`). Every link
//! that joined two groups is kept with its reason, so an alert can say why two accounts
//! are one party. Guards against giant components: an attribute value shared by more
//! than `max_link_accounts` accounts (a call centre's phone, a registered-agent address)
//! links nothing, and no link may grow a party beyond `max_party_accounts` (customer ids
//! excepted: they are the institution's own statement); both are counted and reported.
//!
//! Owns: `Parties` (account -> party, the links), `PartyReport`.
//! Must not: read transactions: parties come from the accounts table alone, so they are
//! the same for every replay of it.

use std::collections::{BTreeMap, HashMap};

use arrow::array::{Array, AsArray};
use serde::{Deserialize, Serialize};

use mirrorflow_core::schema::acct;
use mirrorflow_core::tables::AccountsTable;

/// Party resolution settings (config `[parties]`).
#[derive(Debug, Clone)]
pub struct PartyConfig {
    /// Link attributes that join accounts (any of `phone_hash`, `address_hash`, `device_hash`).
    pub link_attributes: Vec<String>,
    /// A value shared by more accounts than this links none of them.
    pub max_link_accounts: usize,
    /// No attribute link grows a party beyond this many accounts.
    pub max_party_accounts: usize,
}

impl Default for PartyConfig {
    fn default() -> Self {
        PartyConfig {
            link_attributes: vec![acct::PHONE_HASH.into(), acct::DEVICE_HASH.into()],
            max_link_accounts: 10,
            max_party_accounts: 50,
        }
    }
}

/// Why two accounts are one party.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Link {
    pub a: String,
    pub b: String,
    /// `customer_id`, `phone_hash`, `address_hash` or `device_hash`.
    pub reason: String,
    /// The shared value (a customer id, or an attribute's hash).
    pub value: String,
}

/// What resolution did (for the summary and the log).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PartyReport {
    pub accounts: u64,
    pub parties: u64,
    /// Parties of more than one account.
    pub multi_account_parties: u64,
    pub largest_party: u64,
    /// Links that joined two groups, by reason.
    pub links: BTreeMap<String, u64>,
    /// Attribute values shared by too many accounts to link (by attribute), and the most
    /// accounts one of them had.
    pub capped_values: BTreeMap<String, u64>,
    pub largest_capped_value: u64,
    /// Attribute links not made because the party would have grown too large.
    pub capped_links: u64,
}

/// Accounts grouped into parties.
#[derive(Debug, Clone, Default)]
pub struct Parties {
    /// Account id -> party number.
    party_of: HashMap<String, u32, foldhash::fast::RandomState>,
    /// Party number -> its accounts (sorted) and the links that joined them.
    members: Vec<Vec<String>>,
    links: Vec<Vec<Link>>,
    pub report: PartyReport,
}

struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind { parent: (0..n as u32).collect(), size: vec![1; n] }
    }

    fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }
}

impl Parties {
    /// Resolves the parties of every account in `accounts`.
    pub fn resolve(accounts: &AccountsTable, cfg: &PartyConfig) -> Self {
        let b = &accounts.batch;
        let text = |name: &str| b.column_by_name(name).and_then(|c| c.as_string_opt::<i32>().cloned());
        let Some(ids) = text(acct::ACCOUNT_ID) else { return Parties::default() };
        // accounts in id order: resolution does not depend on the file's row order
        let mut rows: Vec<usize> = (0..b.num_rows()).collect();
        rows.sort_by(|&x, &y| ids.value(x).cmp(ids.value(y)));
        let n = rows.len();
        let mut uf = UnionFind::new(n);
        let mut links: Vec<Link> = Vec::new();
        let mut report = PartyReport { accounts: n as u64, ..PartyReport::default() };
        let mut attrs: Vec<(&str, bool)> = vec![(acct::CUSTOMER_ID, true)];
        for a in [acct::PHONE_HASH, acct::ADDRESS_HASH, acct::DEVICE_HASH] {
            if cfg.link_attributes.iter().any(|x| x == a) {
                attrs.push((a, false));
            }
        }
        for (attr, authoritative) in attrs {
            let Some(col) = text(attr) else { continue };
            // value -> accounts (positions in `rows`), in id order
            let mut groups: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
            for (i, &r) in rows.iter().enumerate() {
                if !col.is_null(r) && !col.value(r).trim().is_empty() {
                    groups.entry(col.value(r)).or_default().push(i as u32);
                }
            }
            for (value, members) in groups {
                if members.len() < 2 {
                    continue;
                }
                if !authoritative && members.len() > cfg.max_link_accounts {
                    *report.capped_values.entry(attr.to_string()).or_default() += 1;
                    report.largest_capped_value = report.largest_capped_value.max(members.len() as u64);
                    continue;
                }
                let first = members[0];
                for &m in &members[1..] {
                    let (ra, rb) = (uf.find(first), uf.find(m));
                    if ra == rb {
                        continue;
                    }
                    let joined = uf.size[ra as usize] + uf.size[rb as usize];
                    if !authoritative && joined as usize > cfg.max_party_accounts {
                        report.capped_links += 1;
                        continue;
                    }
                    let (big, small) = if uf.size[ra as usize] >= uf.size[rb as usize] { (ra, rb) } else { (rb, ra) };
                    uf.parent[small as usize] = big;
                    uf.size[big as usize] = joined;
                    links.push(Link {
                        a: ids.value(rows[first as usize]).to_string(),
                        b: ids.value(rows[m as usize]).to_string(),
                        reason: attr.to_string(),
                        value: value.to_string(),
                    });
                    *report.links.entry(attr.to_string()).or_default() += 1;
                }
            }
        }
        // number parties in order of their first (smallest) account id
        let mut number: HashMap<u32, u32> = HashMap::new();
        let mut parties = Parties::default();
        for (i, &r) in rows.iter().enumerate() {
            let root = uf.find(i as u32);
            let p = *number.entry(root).or_insert_with(|| {
                parties.members.push(Vec::new());
                parties.links.push(Vec::new());
                parties.members.len() as u32 - 1
            });
            let id = ids.value(r).to_string();
            parties.members[p as usize].push(id.clone());
            parties.party_of.insert(id, p);
        }
        for l in links {
            let p = parties.party_of[&l.a];
            parties.links[p as usize].push(l);
        }
        report.parties = parties.members.len() as u64;
        report.multi_account_parties = parties.members.iter().filter(|m| m.len() > 1).count() as u64;
        report.largest_party = parties.members.iter().map(|m| m.len() as u64).max().unwrap_or(0);
        parties.report = report;
        parties
    }

    /// The party number of an account (`None`: not in the accounts table).
    pub fn of(&self, account: &str) -> Option<u32> {
        self.party_of.get(account).copied()
    }

    /// Whether two accounts are one party (an account is always its own).
    pub fn same(&self, a: &str, b: &str) -> bool {
        a == b || matches!((self.of(a), self.of(b)), (Some(x), Some(y)) if x == y)
    }

    /// A party's accounts, sorted.
    pub fn members(&self, party: u32) -> &[String] {
        self.members.get(party as usize).map_or(&[], Vec::as_slice)
    }

    /// A stable name for the party of `account`: its smallest account id, prefixed
    /// (`party:<account>`), the same for every replay of the same accounts table.
    pub fn name(&self, account: &str) -> String {
        match self.of(account) {
            Some(p) => format!("party:{}", self.members(p)[0]),
            None => format!("party:{account}"),
        }
    }

    /// The links that join the given accounts into one party: the path between each of
    /// them and the first in the party's spanning forest (empty when they are not one
    /// party or are one account).
    pub fn links_between(&self, accounts: &[&str]) -> Vec<Link> {
        let Some(first) = accounts.first() else { return Vec::new() };
        let Some(p) = self.of(first) else { return Vec::new() };
        if accounts.iter().any(|a| self.of(a) != Some(p)) {
            return Vec::new();
        }
        let links = &self.links[p as usize];
        // adjacency over the forest's links
        let mut adj: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, l) in links.iter().enumerate() {
            adj.entry(l.a.as_str()).or_default().push(i);
            adj.entry(l.b.as_str()).or_default().push(i);
        }
        let mut used: std::collections::BTreeSet<usize> = std::collections::BTreeSet::new();
        for target in &accounts[1..] {
            if target == first {
                continue;
            }
            // breadth-first from `first` to `target`
            let mut prev: HashMap<&str, (usize, &str)> = HashMap::new();
            let mut queue = std::collections::VecDeque::from([*first]);
            let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::from([*first]);
            while let Some(x) = queue.pop_front() {
                if x == *target {
                    break;
                }
                for &i in adj.get(x).map_or(&[][..], Vec::as_slice) {
                    let y = if links[i].a == x { links[i].b.as_str() } else { links[i].a.as_str() };
                    if seen.insert(y) {
                        prev.insert(y, (i, x));
                        queue.push_back(y);
                    }
                }
            }
            let mut at = *target;
            while let Some(&(i, from)) = prev.get(at) {
                used.insert(i);
                at = from;
            }
        }
        used.into_iter().map(|i| links[i].clone()).collect()
    }
}

/// `[parties]` as written in the TOML: party resolution.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RawParties {
    /// Link attributes that join accounts besides `customer_id`.
    pub link_attributes: Vec<String>,
    /// A value shared by more accounts than this links none of them.
    pub max_link_accounts: usize,
    /// No attribute link grows a party beyond this many accounts.
    pub max_party_accounts: usize,
}

impl RawParties {
    /// Pushes every problem of the section to `errs`.
    pub fn check(&self, errs: &mut Vec<String>) {
        for a in &self.link_attributes {
            if !["phone_hash", "address_hash", "device_hash"].contains(&a.as_str()) {
                errs.push(format!(
                    "`parties.link-attributes`: `{a}` is not a link attribute (phone_hash, address_hash, device_hash)"
                ));
            }
        }
        if self.max_link_accounts < 2 || self.max_party_accounts < 2 {
            errs.push("`parties.max-link-accounts` and `parties.max-party-accounts` must be at least 2".into());
        }
    }

    /// The section as the resolver's config (after `check`).
    pub fn config(&self) -> PartyConfig {
        PartyConfig {
            link_attributes: self.link_attributes.clone(),
            max_link_accounts: self.max_link_accounts,
            max_party_accounts: self.max_party_accounts,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{RecordBatch, StringArray};

    use super::*;

    fn table(rows: &[(&str, &str, &str, &str)]) -> AccountsTable {
        let col = |k: usize| -> Arc<dyn Array> {
            Arc::new(StringArray::from(
                rows.iter()
                    .map(|r| {
                        let v = [r.0, r.1, r.2, r.3][k];
                        (!v.is_empty()).then_some(v)
                    })
                    .collect::<Vec<_>>(),
            ))
        };
        let schema = mirrorflow_core::schema::accounts_schema();
        let columns: Vec<Arc<dyn Array>> = schema
            .fields()
            .iter()
            .map(|f| match f.name().as_str() {
                acct::ACCOUNT_ID => col(0),
                acct::CUSTOMER_ID => col(1),
                acct::PHONE_HASH => col(2),
                acct::ADDRESS_HASH => col(3),
                _ => arrow::array::new_null_array(f.data_type(), rows.len()),
            })
            .collect();
        let batch = RecordBatch::try_new(schema, columns).unwrap();
        let index = rows.iter().enumerate().map(|(i, r)| (r.0.to_string(), i)).collect();
        AccountsTable { batch, index }
    }

    #[test]
    fn customer_ids_and_shared_phones_join_accounts_with_their_reasons() {
        let t = table(&[
            ("us1", "C1", "p1", ""),
            ("cn1", "C1", "", ""),
            ("mx1", "C2", "p1", ""),
            ("other", "C3", "p2", ""),
        ]);
        let p = Parties::resolve(&t, &PartyConfig::default());
        assert!(p.same("us1", "cn1") && p.same("us1", "mx1"));
        assert!(!p.same("us1", "other"));
        assert_eq!(p.name("mx1"), "party:cn1");
        let links = p.links_between(&["us1", "mx1"]);
        assert_eq!(links.len(), 1);
        assert_eq!((links[0].reason.as_str(), links[0].value.as_str()), ("phone_hash", "p1"));
        let links = p.links_between(&["cn1", "mx1"]);
        let reasons: Vec<&str> = links.iter().map(|l| l.reason.as_str()).collect();
        assert_eq!(reasons, ["customer_id", "phone_hash"]);
        assert_eq!(p.report.multi_account_parties, 1);
        assert_eq!(p.report.links["customer_id"], 1);
    }

    #[test]
    fn a_value_shared_by_too_many_accounts_links_nobody_and_is_reported() {
        let rows: Vec<(String, String)> = (0..12).map(|i| (format!("a{i:02}"), format!("C{i}"))).collect();
        let r: Vec<(&str, &str, &str, &str)> =
            rows.iter().map(|(a, c)| (a.as_str(), c.as_str(), "callcentre", "")).collect();
        let p = Parties::resolve(&table(&r), &PartyConfig::default());
        assert!(!p.same("a00", "a01"));
        assert_eq!(p.report.capped_values["phone_hash"], 1);
        assert_eq!(p.report.largest_capped_value, 12);
        // below the cap, the same accounts are one party, up to the party size cap
        let cfg = PartyConfig { max_link_accounts: 20, max_party_accounts: 5, ..PartyConfig::default() };
        let p = Parties::resolve(&table(&r), &cfg);
        assert_eq!(p.report.largest_party, 5);
        assert_eq!(p.report.capped_links, 7);
    }

    #[test]
    fn addresses_link_only_when_configured() {
        let t = table(&[("a", "C1", "", "addr"), ("b", "C2", "", "addr")]);
        assert!(!Parties::resolve(&t, &PartyConfig::default()).same("a", "b"));
        let cfg = PartyConfig { link_attributes: vec!["address_hash".into()], ..PartyConfig::default() };
        assert!(Parties::resolve(&t, &cfg).same("a", "b"));
    }
}
