//! The page's input boxes, read as `kubectl apply -f` reads manifests (by
//! cluster-sim, as policy-harness reads them): errors name the box.

use cluster_sim::manifests::{self, ManifestObject};

/// Which input box a document came from, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Manifest,
    Cluster,
    Settings,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Manifest => "manifest",
            Self::Cluster => "cluster objects",
            Self::Settings => "settings",
        })
    }
}

/// A box whose text is not a manifest: `manifest: document 2 is a list, not
/// a Kubernetes object (a map)`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{source_box}: {error}")]
pub struct ManifestError {
    pub source_box: Source,
    pub error: manifests::ManifestError,
}

/// The objects of `text` as the API server receives them: every object has
/// a `kind`, namespaced ones without a namespace get `default_namespace`.
pub fn load_objects(
    text: &str,
    source_box: Source,
    default_namespace: &str,
) -> Result<Vec<ManifestObject>, ManifestError> {
    manifests::load_objects(text, default_namespace)
        .map_err(|error| ManifestError { source_box, error })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cluster_sim::manifests::DocumentProblem;

    #[test]
    fn errors_name_the_box_and_the_document() {
        let error = load_objects("a: 1\nkind: X\n---\n- a list\n", Source::Cluster, "default")
            .expect_err("a list");
        assert_eq!(
            error,
            ManifestError {
                source_box: Source::Cluster,
                error: manifests::ManifestError::Document {
                    file: None,
                    document: 2,
                    problem: DocumentProblem::NotAnObject("a list"),
                },
            }
        );
        let error = load_objects("kind: X\n---\nmetadata: {}\n", Source::Manifest, "default")
            .expect_err("no kind");
        assert_eq!(error.to_string(), "manifest: document 2 has no `kind`");
        let error =
            load_objects("kind: [unclosed\n", Source::Manifest, "default").expect_err("bad YAML");
        assert!(
            error
                .to_string()
                .starts_with("manifest: document 1 is not valid YAML: "),
            "{error}"
        );
    }
}
