//! What a load run prepares before its clock starts: its own products (through the admin API,
//! like any operator) and a token per shopper.

use crate::config::LoadConfig;
use crate::http::{Ingress, IngressError};
use shop_ingress::auth::{MintError, Role, mint_hs256};
use std::time::{Duration, Instant};

/// Why the run could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Ingress(#[from] IngressError),
    #[error(transparent)]
    Mint(#[from] MintError),
    #[error(
        "the cart did not know product {0} within {1:?} of its creation; is shop-processors \
         running?"
    )]
    CartNeverSawProduct(String, Duration),
}

/// The products and shoppers of one run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub plentiful: Vec<String>,
    pub scarce: String,
    /// `(user id, bearer token)` per shopper.
    pub users: Vec<(String, String)>,
}

/// Most units the ingress takes in one creation or restock.
const MAX_UNITS: u64 = 1_000_000;

/// Price of every load-test product: small enough that no cart nears the gateway's
/// amount limit (`SHOP_PAYMENT_AMOUNT_LIMIT_CENTS`), whose declines would muddle the mix.
const PRICE_CENTS: i64 = 999;

/// How long to wait for the cart's copy of the catalog to show a new product.
const CATALOG_WAIT: Duration = Duration::from_secs(60);

/// Units each plentiful product needs: every session may take one of each of its lines from
/// it, with a quarter on top so no plentiful line runs out and muddles the mix.
pub fn plentiful_units(config: &LoadConfig, sessions: u64) -> u64 {
    let lines = sessions.saturating_mul(u64::from(config.items_per_checkout));
    let per_product = lines.div_ceil(config.plentiful_products as u64);
    per_product
        .saturating_add(per_product / 4)
        .saturating_add(100)
}

/// Creates the run's products, waits until the cart knows them all, and mints the shoppers'
/// tokens, valid for `token_ttl`.
///
/// # Errors
/// [`SetupError`] naming the step that failed.
pub(crate) async fn prepare(
    ingress: &Ingress,
    config: &LoadConfig,
    sessions: u64,
    token_ttl: Duration,
) -> Result<Plan, SetupError> {
    let secret = &config.jwt_secret.0;
    let admin_id = format!("{}-admin", config.run_id);
    let admin = mint_hs256(secret, &admin_id, Role::Admin, token_ttl)?;
    let units = plentiful_units(config, sessions);
    let plentiful: Vec<String> = (0..config.plentiful_products)
        .map(|index| format!("{}-plenty-{index}", config.run_id))
        .collect();
    let scarce = format!("{}-scarce", config.run_id);
    for product in &plentiful {
        let first = units.min(MAX_UNITS);
        ingress
            .create_product(&admin, product, PRICE_CENTS, first as u32)
            .await?;
        let mut left = units - first;
        while left > 0 {
            let more = left.min(MAX_UNITS);
            ingress.restock(&admin, product, more as u32).await?;
            left -= more;
        }
    }
    ingress
        .create_product(&admin, &scarce, PRICE_CENTS, config.scarce_stock)
        .await?;
    tracing::info!(
        products = plentiful.len(),
        units_each = units,
        scarce_stock = config.scarce_stock,
        "products created"
    );
    // The cart reads the catalog as a global table a moment behind: a session started before
    // it knows a product would be refused `unknown_product`. The admin's own cart probes.
    for product in plentiful.iter().chain(std::iter::once(&scarce)) {
        let deadline = Instant::now() + CATALOG_WAIT;
        while !ingress.probe_add_item(&admin, product).await? {
            if Instant::now() >= deadline {
                return Err(SetupError::CartNeverSawProduct(
                    product.clone(),
                    CATALOG_WAIT,
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    ingress.clear_cart(&admin).await?;
    let users = (0..config.effective_users())
        .map(|index| {
            let user = format!("{}-u{index}", config.run_id);
            let token = mint_hs256(secret, &user, Role::User, token_ttl)?;
            Ok((user, token))
        })
        .collect::<Result<Vec<_>, MintError>>()?;
    Ok(Plan {
        plentiful,
        scarce,
        users,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KafkaTarget;
    use shop_platform::kafka::KafkaSettings;

    #[test]
    fn plentiful_stock_covers_every_line_with_room_to_spare() {
        let target = KafkaTarget {
            settings: KafkaSettings::new("b", "c"),
            registry_url: String::new(),
            topic_prefix: String::new(),
        };
        let mut config = LoadConfig::new("http://x", b"s".to_vec(), target);
        config.plentiful_products = 8;
        config.items_per_checkout = 2;
        // 80,000 sessions × 2 lines over 8 products = 20,000 each, +25 % +100.
        assert_eq!(plentiful_units(&config, 80_000), 25_100);
    }
}
