//! The application's tables, as its Rust scripts query them.

diesel::table! {
    orders (id) {
        id -> Integer,
        total -> Nullable<Integer>,
        code -> Nullable<Text>,
    }
}
