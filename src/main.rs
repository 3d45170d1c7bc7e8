fn main() -> std::process::ExitCode {
    dualmcmc::cli::main()
}
