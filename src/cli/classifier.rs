//! `train-classifier`: the Fréchet distance's feature network.

use super::{Outcome, usage};
use crate::nn::Engine;
use anyhow::{Context, bail};
use clap::Args;
use std::sync::Arc;

/// `train-classifier`: the feature network of the Fréchet distance.
#[derive(Args, Debug, Clone)]
pub struct TrainClassifierArgs {
    /// IDX training images (gzipped or not); default: Debian's Fashion-MNIST training set.
    #[arg(long, requires = "labels")]
    pub images: Option<std::path::PathBuf>,
    /// IDX training labels, with --images.
    #[arg(long, requires = "images")]
    pub labels: Option<std::path::PathBuf>,
    /// IDX test images; default: the shipped Fashion-MNIST test set.
    #[arg(long, requires = "test_labels")]
    pub test_images: Option<std::path::PathBuf>,
    /// IDX test labels, with --test-images.
    #[arg(long, requires = "test_images")]
    pub test_labels: Option<std::path::PathBuf>,
    /// Passes over the training images (~4.5 min each for Fashion-MNIST on a 2-core CPU adapter).
    #[arg(long, default_value_t = 8)]
    pub epochs: u32,
    /// Images per Adam step.
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Adam's learning rate in the first epoch.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Factor on the learning rate after each epoch.
    #[arg(long, default_value_t = 0.7)]
    pub lr_decay: f32,
    /// Seed of the initial weights and of the order of the images (same seed, same adapter:
    /// same weights).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Channels of the first convolution.
    #[arg(long, default_value_t = 16)]
    pub width: usize,
    /// Length of the feature vector (the penultimate layer the Fréchet distance uses).
    #[arg(long, default_value_t = 128)]
    pub feature_len: usize,
    /// Where to write the network (safetensors). The shipped one is
    /// assets/feature-net/fashion-mnist.safetensors; copy a new one there to replace it.
    #[arg(long, default_value = "runs/feature-net/fashion-mnist.safetensors")]
    pub out: std::path::PathBuf,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Refuses values no training can use, before any data is read.
fn check_args(a: &TrainClassifierArgs) -> anyhow::Result<()> {
    for (flag, n) in [("--epochs", a.epochs as usize), ("--batch-size", a.batch_size), ("--width", a.width)] {
        if n == 0 {
            usage!("{flag} must be at least 1");
        }
    }
    if a.feature_len == 0 {
        usage!("--feature-len must be at least 1");
    }
    for (flag, v) in [("--lr", a.lr), ("--lr-decay", a.lr_decay)] {
        if !(v > 0.0 && v.is_finite()) {
            usage!("{flag} must be positive and finite, got {v}");
        }
    }
    Ok(())
}

/// `train-classifier`: trains the feature network, tests it, writes it with its test
/// accuracy in the metadata. Errors name the missing or broken data file.
pub fn train_classifier(engine: Arc<Engine>, args: &TrainClassifierArgs) -> anyhow::Result<Outcome> {
    use crate::eval::feature_net::{ClassifierTraining, FeatureNet, FeatureNetInfo, FeatureNetSpec};
    check_args(args)?;
    let (train, trained_on) = match (&args.images, &args.labels) {
        (Some(images), Some(labels)) => {
            (crate::data::load_idx(images, Some(labels))?, format!("{}", images.display()))
        }
        _ => {
            let (set, what) = crate::data::fashion_mnist(true)?;
            if set.len() < 60_000 {
                bail!(
                    "the Fashion-MNIST training set is not installed (found only: {what}); install it with \
                     `apt-get install dataset-fashion-mnist`, or pass --images and --labels"
                );
            }
            (set, what)
        }
    };
    let test = match (&args.test_images, &args.test_labels) {
        (Some(images), Some(labels)) => crate::data::load_idx(images, Some(labels))?,
        _ => crate::data::fashion_mnist(false)?.0,
    };
    let cfg = ClassifierTraining {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        lr_decay: args.lr_decay,
        seed: args.seed,
    };
    let classes = usize::from(train.labels().into_iter().flatten().copied().max().unwrap_or(0)) + 1;
    let spec = FeatureNetSpec {
        input: [train.channels(), train.height(), train.width()],
        width: args.width,
        features: args.feature_len,
        classes: classes.max(2),
    };
    let mut net = FeatureNet::new(engine, spec, cfg.batch_size, cfg.seed).map_err(anyhow::Error::msg)?;
    crate::say!("training the feature network on {} images ({trained_on})", train.len());
    let total = (train.len() / cfg.batch_size.max(1)) as u64 * u64::from(cfg.epochs);
    let bar = crate::progress::bar(0, total, args.quiet);
    crate::eval::feature_net::train_classifier(&mut net, &train, &cfg, |done, _, loss, acc| {
        bar.set_position(done as u64);
        bar.set_message(format!("loss {loss:.3}, batch accuracy {:.1}%", 100.0 * acc));
    })?;
    bar.finish();
    let accuracy = net.accuracy(&test, &args.out)?;
    let info = FeatureNetInfo {
        trained_on,
        test_accuracy: Some(accuracy),
        training: format!(
            "{} epochs, batch {}, Adam lr {} ×{} per epoch, seed {}; tested on {} images",
            cfg.epochs,
            cfg.batch_size,
            cfg.lr,
            cfg.lr_decay,
            cfg.seed,
            test.len()
        ),
    };
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    net.save(&args.out, &info)?;
    Ok(Outcome {
        files: vec![args.out.clone()],
        lines: vec![format!("test accuracy {:.2}% on {} images", 100.0 * accuracy, test.len())],
    })
}
