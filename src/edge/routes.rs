//! Where the edge sends each custom hostname's traffic: an in-memory map from hostname to
//! its zone, origin and ownership token, loaded with the certificates and replaced whole, so
//! a request never waits for the database.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use tokio::sync::watch;
use uuid::Uuid;

use crate::store::{Store, StoreError};

/// How one custom hostname is routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub zone_id: String,
    /// The custom hostname's id: the last segment of its HTTP ownership challenge URL.
    pub hostname_id: Uuid,
    /// `custom_origin_server`, else the zone's fallback origin; `None` when neither is set.
    pub origin: Option<String>,
    /// `custom_origin_sni` as stored (it may be `:request_host_header:`).
    pub sni: Option<String>,
    pub ownership_token: Uuid,
}

/// Hostname (lower case, no trailing dot) to its route.
#[derive(Debug, Default)]
pub struct RouteMap {
    exact: HashMap<String, Route>,
    /// `*.example.net` under `example.net`: it matches exactly one more label, as for SNI.
    wildcard: HashMap<String, Route>,
}

impl RouteMap {
    /// Reads every custom hostname (whatever its status: Cloudflare routes pending ones too,
    /// and over HTTPS the handshake already needed a served certificate) and every zone's
    /// fallback origin. Should two zones hold one name, the older hostname wins, as for SNI.
    pub async fn load(store: &dyn Store) -> Result<Self, StoreError> {
        let fallbacks: HashMap<String, String> = store
            .fallback_origins()
            .await?
            .into_iter()
            .map(|record| (record.zone_id, record.origin))
            .collect();
        let mut map = RouteMap::default();
        for hostname in store.hostname_routes().await? {
            let origin = hostname
                .custom_origin_server
                .filter(|origin| !origin.trim().is_empty())
                .or_else(|| fallbacks.get(&hostname.zone_id).cloned());
            let route = Route {
                zone_id: hostname.zone_id,
                hostname_id: hostname.id,
                origin,
                sni: hostname.custom_origin_sni.filter(|sni| !sni.is_empty()),
                ownership_token: hostname.ownership_token,
            };
            map.insert(&hostname.hostname, route);
        }
        Ok(map)
    }

    /// First insert wins.
    fn insert(&mut self, hostname: &str, route: Route) {
        let name = hostname.trim_end_matches('.').to_ascii_lowercase();
        let (map, key) = match name.strip_prefix("*.") {
            Some(parent) => (&mut self.wildcard, parent.to_string()),
            None => (&mut self.exact, name),
        };
        map.entry(key).or_insert(route);
    }

    /// The route for a request's `Host` (or `:authority`): matched without case, port or
    /// trailing dot; an exact hostname before the wildcard of its parent.
    pub fn lookup(&self, host: &str) -> Option<&Route> {
        let name = host_name(host).to_ascii_lowercase();
        if let Some(route) = self.exact.get(&name) {
            return Some(route);
        }
        let (_, parent) = name.split_once('.')?;
        self.wildcard.get(parent)
    }

    pub fn len(&self) -> usize {
        self.exact.len() + self.wildcard.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The host of a `Host` value without its port and trailing dot (`[::1]:80` gives `::1`).
pub fn host_name(host: &str) -> &str {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(inside, _)| inside)
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    name.trim_end_matches('.')
}

/// The current [`RouteMap`], replaced whole on each reload.
#[derive(Debug)]
pub struct Routes {
    current: RwLock<Arc<RouteMap>>,
    /// Counts completed reloads, so a caller (a test) can wait for the next one.
    loads: watch::Sender<u64>,
}

impl Default for Routes {
    fn default() -> Self {
        Self {
            current: RwLock::default(),
            loads: watch::Sender::new(0),
        }
    }
}

impl Routes {
    pub fn current(&self) -> Arc<RouteMap> {
        match self.current.read() {
            Ok(map) => Arc::clone(&map),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn replace(&self, map: RouteMap) {
        let map = Arc::new(map);
        match self.current.write() {
            Ok(mut current) => *current = map,
            Err(poisoned) => *poisoned.into_inner() = map,
        }
        self.loads.send_modify(|loads| *loads += 1);
    }

    /// Re-reads the routes; on failure the routes served so far stay (the next change or
    /// resync retries).
    pub async fn reload(&self, store: &dyn Store) {
        match RouteMap::load(store).await {
            Ok(map) => self.replace(map),
            Err(error) => tracing::warn!(%error, "cannot reload the edge routes"),
        }
    }

    /// Changes each time a reload has replaced the map.
    pub fn loads(&self) -> watch::Receiver<u64> {
        self.loads.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(zone: &str) -> Route {
        Route {
            zone_id: zone.into(),
            hostname_id: Uuid::new_v4(),
            origin: Some(format!("{zone}.origin.test")),
            sni: None,
            ownership_token: Uuid::new_v4(),
        }
    }

    #[test]
    fn hosts_match_without_case_port_or_trailing_dot_exact_before_wildcard() {
        let mut map = RouteMap::default();
        map.insert("App.Example.com", route("exact"));
        map.insert("*.example.com", route("wildcard"));
        map.insert("app.example.com", route("later"));
        let zone = |host: &str| map.lookup(host).map(|route| route.zone_id.as_str());
        assert_eq!(zone("app.example.com"), Some("exact"));
        assert_eq!(zone("APP.EXAMPLE.COM:8443"), Some("exact"));
        assert_eq!(zone("app.example.com."), Some("exact"));
        assert_eq!(zone("www.example.com"), Some("wildcard"));
        assert_eq!(zone("a.www.example.com"), None);
        assert_eq!(zone("example.com"), None);
        assert_eq!(zone(""), None);
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("app.example.com:443"), "app.example.com");
        assert_eq!(host_name("app.example.com"), "app.example.com");
        assert_eq!(host_name("[::1]:8080"), "::1");
        assert_eq!(host_name("127.0.0.1:80"), "127.0.0.1");
        assert_eq!(host_name("app.example.com.:80"), "app.example.com");
    }
}
