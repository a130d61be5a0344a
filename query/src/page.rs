//! Pagination: `?page=1&page_size=20`, page_size capped at 100, and the body
//! `{total, page, page_size, items}`.

use serde::Serialize;

pub const DEFAULT_PAGE_SIZE: i64 = 20;
pub const MAX_PAGE_SIZE: i64 = 100;

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    pub page: i64,
    pub page_size: i64,
}

/// Why a page request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPage {
    pub field: &'static str,
    pub reason: &'static str,
}

impl Paging {
    /// `page` must be at least 1; a `page_size` above the cap answers with
    /// the cap (not an error), below 1 is refused.
    pub fn new(page: Option<i64>, page_size: Option<i64>) -> Result<Self, InvalidPage> {
        let page = page.unwrap_or(1);
        if page < 1 {
            return Err(InvalidPage {
                field: "page",
                reason: "must be at least 1",
            });
        }
        let page_size = page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if page_size < 1 {
            return Err(InvalidPage {
                field: "page_size",
                reason: "must be at least 1",
            });
        }
        Ok(Self {
            page,
            page_size: page_size.min(MAX_PAGE_SIZE),
        })
    }

    pub fn offset(&self) -> i64 {
        (self.page - 1).saturating_mul(self.page_size)
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub total: i64,
    pub page: i64,
    pub page_size: i64,
    pub items: Vec<T>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_is_capped_not_refused() {
        assert_eq!(Paging::new(None, Some(500)).unwrap().page_size, 100);
        assert_eq!(
            Paging::new(None, None).unwrap(),
            Paging {
                page: 1,
                page_size: 20
            }
        );
    }

    #[test]
    fn page_must_be_at_least_one() {
        assert_eq!(Paging::new(Some(0), None).unwrap_err().field, "page");
        assert_eq!(
            Paging::new(Some(1), Some(0)).unwrap_err().field,
            "page_size"
        );
        assert_eq!(Paging::new(Some(3), Some(10)).unwrap().offset(), 20);
    }
}
