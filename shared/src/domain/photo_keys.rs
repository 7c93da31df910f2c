//! Where each object of a user's photos lives. Uploads and photos sit under the user's own
//! prefixes, and every upload and photo has its own id, so a URL never changes meaning.

use super::UserId;

pub fn upload(user: &UserId, upload_id: &str) -> String {
    format!("uploads/{user}/{upload_id}")
}
pub fn photo(user: &UserId, photo_id: &str) -> String {
    format!("photos/{user}/{photo_id}.jpg")
}
pub fn thumbnail(user: &UserId, photo_id: &str) -> String {
    format!("photos/{user}/{photo_id}-thumb.jpg")
}
/// Both files of one photo: the photo and its thumbnail.
pub fn files(user: &UserId, photo_id: &str) -> [String; 2] {
    [photo(user, photo_id), thumbnail(user, photo_id)]
}
/// Every prefix that holds something of this user's.
pub fn prefixes(user: &UserId) -> [String; 2] {
    [format!("uploads/{user}/"), format!("photos/{user}/")]
}
/// The user and upload an upload key names, if it is one.
pub fn parse_upload(key: &str) -> Option<(UserId, String)> {
    let mut parts = key.strip_prefix("uploads/")?.split('/');
    let (user, upload) = (parts.next()?, parts.next()?);
    let plain = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    (parts.next().is_none() && plain(user) && plain(upload)).then(|| (UserId(user.into()), upload.into()))
}

#[cfg(test)]
mod tests {
    use crate::domain::{UserId, photo_keys as keys};

    #[test]
    fn only_a_plain_upload_key_names_an_upload() {
        let user = UserId("0193-ab".into());
        assert_eq!(keys::parse_upload(&keys::upload(&user, "u1")), Some((user, "u1".into())));
        for key in ["photos/a/b", "uploads/a", "uploads/a/b/c", "uploads/../b", "uploads/a/b.jpg", "uploads//b"] {
            assert_eq!(keys::parse_upload(key), None, "{key}");
        }
    }
}
