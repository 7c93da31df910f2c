//! Swagger UI's files, from the copy of its distribution that `utoipa-swagger-ui-vendored`
//! carries (no network), written to `OUT_DIR/swagger-ui/`: only those the page loads, so the
//! docs function does not carry the rest (source maps, other bundles; 2.6 MB zipped).

use std::io::Read;

/// The files `/apidocs/` serves from the distribution; `swagger-initializer.js` is ours.
const SERVED: &[&str] = &[
    "index.html",
    "index.css",
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "oauth2-redirect.html",
    "favicon-16x16.png",
    "favicon-32x32.png",
];

fn main() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("swagger-ui");
    std::fs::create_dir_all(&out).unwrap();
    let zip = std::io::Cursor::new(utoipa_swagger_ui_vendored::SWAGGER_UI_VENDORED);
    let mut archive = zip::ZipArchive::new(zip).expect("the vendored Swagger UI is a zip");
    for name in SERVED {
        let path = (0..archive.len())
            .map(|i| archive.name_for_index(i).unwrap_or_default().to_string())
            .find(|path| path.ends_with(&format!("/dist/{name}")))
            .unwrap_or_else(|| panic!("{name} is not in the vendored Swagger UI"));
        let mut bytes = Vec::new();
        archive.by_name(&path).unwrap().read_to_end(&mut bytes).unwrap();
        std::fs::write(out.join(name), bytes).unwrap();
    }
    println!("cargo::rerun-if-changed=build.rs");
}
