//! The catalog: anyone signed in reads it; admins change it through catalog commands.

use super::commands::{self, Reply, command_body};
use super::dto::{
    CommandResponse, CreateProductRequest, ProductListParams, RestockRequest, UpdateProductRequest,
};
use super::extract::{Admin, ApiJson, ApiPath, ApiQuery, CommandContext};
use super::validate;
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::ports::ProductFilter;
use crate::state::AppState;
use crate::views::{Product, ProductPage};
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use shop_schemas::Money;
use shop_schemas::catalog::{
    CatalogCommandBody, ChangePrice, CreateProduct, DeleteProduct, RestockProduct, UpdateProduct,
};

fn product_url(id: &str) -> String {
    format!("/api/v1/products/{id}")
}

/// Products, filtered and paginated.
#[utoipa::path(
    get, path = "/api/v1/products", tag = "products",
    params(ProductListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of products", body = ProductPage),
        (status = 400, description = "A parameter or the cursor does not parse", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter is out of range", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limit", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub(crate) async fn list_products(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ProductListParams>,
) -> Result<Json<ProductPage>, ApiError> {
    let page = validate::page(params.limit, params.cursor)?;
    validate::price_range(params.min_price, params.max_price)?;
    let filter = ProductFilter {
        q: validate::search_text(params.q)?,
        min_price_cents: params.min_price,
        max_price_cents: params.max_price,
    };
    Ok(Json(state.queries.list_products(&filter, &page).await?))
}

/// One product.
#[utoipa::path(
    get, path = "/api/v1/products/{id}", tag = "products",
    params(("id" = String, Path, description = "Product id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The product", body = Product),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(product_id = %id))]
pub(crate) async fn get_product(
    State(state): State<AppState>,
    _caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Product>, ApiError> {
    state
        .queries
        .product(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no product {id}")))
}

/// Creates a product (admin): a CreateProduct command.
#[utoipa::path(
    post, path = "/api/v1/products", tag = "products",
    request_body = CreateProductRequest,
    params(("Prefer" = Option<String>, Header, description = "`wait=N`: wait up to N s (max 30) for the outcome")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created (after Prefer: wait)", body = CommandResponse),
        (status = 202, description = "Command accepted for processing", body = CommandResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The product id exists (duplicate_id)", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid field", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too busy or Kafka away; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(user = %caller.user_id))]
pub(crate) async fn create_product(
    State(state): State<AppState>,
    Admin(caller): Admin,
    context: CommandContext,
    ApiJson(request): ApiJson<CreateProductRequest>,
) -> Result<Response, ApiError> {
    let product_id = request
        .product_id
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    validate::product_id(&product_id)?;
    validate::name(&request.name)?;
    validate::description(&request.description)?;
    validate::price(request.price_cents)?;
    validate::currency(&request.currency)?;
    let initial_stock = validate::initial_stock(request.initial_stock)?;
    let location = product_url(&product_id);
    let command = commands::catalog(
        &caller.user_id,
        CatalogCommandBody::CreateProduct(CreateProduct {
            product_id,
            name: request.name,
            description: request.description,
            price: Money::new(request.price_cents, request.currency),
            initial_stock,
        }),
    );
    let sent = commands::send(&state, &context, command).await?;
    let body = command_body(&sent.command_id, location.clone());
    Ok(commands::respond(&sent, &Reply::created(location), body))
}

/// Changes a product (admin): `name` and `description` (UpdateProduct), or `price_cents` and
/// `currency` (ChangePrice); one kind per request.
#[utoipa::path(
    put, path = "/api/v1/products/{id}", tag = "products",
    request_body = UpdateProductRequest,
    params(
        ("id" = String, Path, description = "Product id"),
        ("Prefer" = Option<String>, Header, description = "`wait=N`: wait up to N s (max 30) for the outcome"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Changed (after Prefer: wait)", body = CommandResponse),
        (status = 202, description = "Command accepted for processing", body = CommandResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product (unknown_product)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid or mixed fields", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too busy or Kafka away; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(product_id = %id))]
pub(crate) async fn update_product(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<String>,
    context: CommandContext,
    ApiJson(request): ApiJson<UpdateProductRequest>,
) -> Result<Response, ApiError> {
    validate::product_id(&id)?;
    let details = request.name.is_some() || request.description.is_some();
    let price = request.price_cents.is_some() || request.currency.is_some();
    let body = match (details, price) {
        (true, true) => {
            return Err(ApiError::Validation(
                "change either name and description, or price_cents and currency, not both in \
                 one request"
                    .to_owned(),
            ));
        }
        (false, false) => {
            return Err(ApiError::Validation(
                "nothing to change: send name and description, or price_cents and currency"
                    .to_owned(),
            ));
        }
        (true, false) => {
            let (Some(name), Some(description)) = (request.name, request.description) else {
                return Err(ApiError::Validation(
                    "name and description are changed together: send both".to_owned(),
                ));
            };
            validate::name(&name)?;
            validate::description(&description)?;
            CatalogCommandBody::UpdateProduct(UpdateProduct {
                product_id: id.clone(),
                name,
                description,
            })
        }
        (false, true) => {
            let (Some(price_cents), Some(currency)) = (request.price_cents, request.currency)
            else {
                return Err(ApiError::Validation(
                    "price_cents and currency are changed together: send both".to_owned(),
                ));
            };
            validate::price(price_cents)?;
            validate::currency(&currency)?;
            CatalogCommandBody::ChangePrice(ChangePrice {
                product_id: id.clone(),
                price: Money::new(price_cents, currency),
            })
        }
    };
    let sent = commands::send(&state, &context, commands::catalog(&caller.user_id, body)).await?;
    let body = command_body(&sent.command_id, product_url(&id));
    Ok(commands::respond(&sent, &Reply::about_path_product(), body))
}

/// Deletes a product (admin): a DeleteProduct command.
#[utoipa::path(
    delete, path = "/api/v1/products/{id}", tag = "products",
    params(
        ("id" = String, Path, description = "Product id"),
        ("Prefer" = Option<String>, Header, description = "`wait=N`: wait up to N s (max 30) for the outcome"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted (after Prefer: wait)", body = CommandResponse),
        (status = 202, description = "Command accepted for processing", body = CommandResponse),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product (unknown_product)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid product id", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too busy or Kafka away; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(product_id = %id))]
pub(crate) async fn delete_product(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<String>,
    context: CommandContext,
) -> Result<Response, ApiError> {
    validate::product_id(&id)?;
    let body = CatalogCommandBody::DeleteProduct(DeleteProduct {
        product_id: id.clone(),
    });
    let sent = commands::send(&state, &context, commands::catalog(&caller.user_id, body)).await?;
    let body = command_body(&sent.command_id, product_url(&id));
    Ok(commands::respond(&sent, &Reply::about_path_product(), body))
}

/// Adds units to a product's stock (admin): a RestockProduct command.
#[utoipa::path(
    post, path = "/api/v1/products/{id}/restock", tag = "products",
    request_body = RestockRequest,
    params(
        ("id" = String, Path, description = "Product id"),
        ("Prefer" = Option<String>, Header, description = "`wait=N`: wait up to N s (max 30) for the outcome"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Restocked (after Prefer: wait)", body = CommandResponse),
        (status = 202, description = "Command accepted for processing", body = CommandResponse),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No valid token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such product (unknown_product)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Quantity out of range", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too busy or Kafka away; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
#[tracing::instrument(skip_all, fields(product_id = %id))]
pub(crate) async fn restock_product(
    State(state): State<AppState>,
    Admin(caller): Admin,
    ApiPath(id): ApiPath<String>,
    context: CommandContext,
    ApiJson(request): ApiJson<RestockRequest>,
) -> Result<Response, ApiError> {
    validate::product_id(&id)?;
    let quantity = validate::restock_quantity(request.quantity)?;
    let body = CatalogCommandBody::RestockProduct(RestockProduct {
        product_id: id.clone(),
        quantity,
    });
    let sent = commands::send(&state, &context, commands::catalog(&caller.user_id, body)).await?;
    let body = command_body(&sent.command_id, product_url(&id));
    Ok(commands::respond(&sent, &Reply::about_path_product(), body))
}
