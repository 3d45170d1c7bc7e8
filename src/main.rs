use clap::Parser;
use dualmcmc::cli::{BenchWhat, Cli, Command};
use dualmcmc::gpu::{AdapterChoice, Gpu};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let choice = AdapterChoice { backend: cli.backend, name: cli.adapter };
    if !cli.no_gui {
        if let Some(command) = &cli.command {
            anyhow::bail!(
                "the headless commands run with --no-gui, e.g. `dualmcmc --no-gui {}`; \
                 without --no-gui and without a command, dualmcmc opens the desktop app",
                command_name(command)
            );
        }
        return dualmcmc::app::run(&choice);
    }
    let Some(command) = cli.command else {
        anyhow::bail!("--no-gui needs a command; see `dualmcmc --no-gui --help`");
    };
    // Settings are checked before the adapter is opened (quicker, and no GPU noise first).
    let train_args = match &command {
        Command::Train { preset, config, set, out, resume, quiet } => {
            let args = dualmcmc::run::TrainArgs {
                preset: preset.clone(),
                config: config.clone(),
                set: set.clone(),
                out: out.clone(),
                resume: resume.clone(),
                quiet: *quiet,
            };
            dualmcmc::run::check_args(&args)?;
            Some(args)
        }
        _ => None,
    };
    let gpu = Gpu::new(&choice)?;
    gpu.announce();
    let engine = || std::sync::Arc::new(dualmcmc::nn::Engine::new(&gpu));
    match command {
        Command::Train { .. } => {
            dualmcmc::run::train(engine(), train_args.as_ref().expect("built above"))?;
            Ok(())
        }
        Command::Sample(args) => report(&dualmcmc::commands::sample(engine(), &args)?),
        Command::Reconstruct(args) => report(&dualmcmc::commands::reconstruct(engine(), &args)?.outcome),
        Command::Interpolate(args) => report(&dualmcmc::commands::interpolate(engine(), &args)?),
        Command::Energy(args) => report(&dualmcmc::commands::energy(engine(), &args)?),
        Command::TrainClassifier(args) => report(&dualmcmc::commands::train_classifier(engine(), &args)?),
        Command::Ablate(a) => {
            let args = dualmcmc::eval::ablate::AblateArgs {
                out: a.out.clone().unwrap_or_else(|| format!("runs/ablate-{}", a.preset).into()),
                preset: a.preset,
                iterations: a.iterations,
                n: a.n,
                groups: a.groups,
                set: a.set,
                features: a.features,
                quiet: a.quiet,
            };
            dualmcmc::eval::ablate::ablate(engine(), &args)?;
            for name in ["ablation.md", "ablation.json", "ablation.png"] {
                eprintln!("wrote {}", args.out.join(name).display());
            }
            println!("{}", std::fs::read_to_string(args.out.join("ablation.md"))?);
            Ok(())
        }
        Command::Eval(args) => {
            let run = args.run_folder();
            let report = dualmcmc::eval::run_eval::eval(engine(), run, args.n, args.features.as_deref())?;
            println!("{}", serde_json::to_string_pretty(&report["metrics"])?);
            eprintln!("written: {}, {}", run.join("eval.json").display(), run.join("eval.md").display());
            Ok(())
        }
        Command::Bench { what: BenchWhat::Kernels } => dualmcmc::bench::kernels(&gpu),
        Command::Bench { what: BenchWhat::Train } => dualmcmc::bench::train(&engine()),
        Command::Bench { what: BenchWhat::Layers } => {
            dualmcmc::bench::layers(&gpu);
            Ok(())
        }
    }
}

/// Prints a command's lines (stdout) and the files it wrote (stderr).
fn report(outcome: &dualmcmc::commands::Outcome) -> anyhow::Result<()> {
    for line in &outcome.lines {
        println!("{line}");
    }
    for file in &outcome.files {
        eprintln!("wrote {}", file.display());
    }
    Ok(())
}

/// The subcommand's name, as typed.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Train { .. } => "train",
        Command::Sample(_) => "sample",
        Command::Reconstruct(_) => "reconstruct",
        Command::Interpolate(_) => "interpolate",
        Command::Energy(_) => "energy",
        Command::Eval(_) => "eval",
        Command::TrainClassifier(_) => "train-classifier",
        Command::Ablate(_) => "ablate",
        Command::Bench { .. } => "bench",
    }
}
