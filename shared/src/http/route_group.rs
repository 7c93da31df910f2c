//! One declaration of a route group's routes, two routers from it.

use axum::routing::MethodFilter;
use utoipa::openapi::path::HttpMethod;
use utoipa_axum::PathItemExt as _;

/// Declares a route group's routes once (each bracket: the handlers of one path), as
///
/// - `routes()`: with their OpenAPI operations, for the document and the drift tests;
/// - `router(state)`: the same routes without them, over the group's state and without the
///   shared layers (`http::finish` adds them). This is what a function builds at cold start:
///   an operation's schemas are documentation, and building them is most of building a router.
macro_rules! route_group {
    ($state:ty; $( [$first:ident $(, $more:ident)* $(,)?] ),+ $(,)?) => {
        pub fn routes() -> utoipa_axum::router::OpenApiRouter<$state> {
            utoipa_axum::router::OpenApiRouter::new() $( .routes(utoipa_axum::routes!($first $(, $more)*)) )+
        }

        /// The group's routes over its state, without the shared layers and the OpenAPI
        /// operations (see `route_group!`).
        pub fn router(state: $state) -> axum::Router {
            axum::Router::new()
                $(
                    .route(
                        &utoipa_axum::paste! { <[<__path_ $first>] as utoipa::Path>::path() },
                        axum::routing::MethodRouter::new()
                            .on($crate::http::route_group::method_filter(
                                utoipa_axum::paste! { <[<__path_ $first>] as utoipa::Path>::methods() }
                            ), $first)
                            $(
                                .on($crate::http::route_group::method_filter(
                                    utoipa_axum::paste! { <[<__path_ $more>] as utoipa::Path>::methods() }
                                ), $more)
                            )*
                    )
                )+
                .with_state(state)
        }
    };
}

pub(crate) use route_group;

/// The methods a handler's `#[utoipa::path]` names, as one filter.
pub fn method_filter(methods: Vec<HttpMethod>) -> MethodFilter {
    let mut filters = methods.iter().map(|method| method.to_method_filter());
    let first = filters.next().expect("a #[utoipa::path] names a method");
    filters.fold(first, MethodFilter::or)
}
