//! `Flag`: a read-model boolean, stored as BIGINT 0/1 (the one flag type
//! both read-model databases hand back through `sqlx::Any`), read as a
//! `bool` and serialised as one.

use serde::Serialize;
use sqlx::any::{Any, AnyTypeInfo};
use sqlx::decode::Decode;
use sqlx::error::BoxDynError;
use sqlx::{Database, Type};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct Flag(pub bool);

impl Type<Any> for Flag {
    fn type_info() -> AnyTypeInfo {
        <i64 as Type<Any>>::type_info()
    }
}

impl<'r> Decode<'r, Any> for Flag {
    fn decode(value: <Any as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self(<i64 as Decode<Any>>::decode(value)? != 0))
    }
}

impl From<Flag> for bool {
    fn from(flag: Flag) -> Self {
        flag.0
    }
}
