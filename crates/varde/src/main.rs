fn main() -> std::process::ExitCode {
    varde::cli::main()
}
