//! `aiserve`: serve AI models over gRPC, and talk to a server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aiserve::{parse_listen_or_off, parse_model_control, ServeConfig};
use aiserve_client::{Client, Encoding};
use aiserve_core::json::{tensor_from_json, tensor_to_json};
use aiserve_core::{ModelControl, RegistryOptions};
use aiserve_server::ServerOptions;
use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

/// Serve AI models over gRPC (the seed's AIService and the Open Inference
/// Protocol / KServe V2), and call them.
#[derive(Parser, Debug)]
#[command(name = "aiserve", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (with no --repository: the built-in sentiment model).
    Serve(ServeArgs),
    /// Score a text with AIService.predict and print `Prediction result: <score>`.
    Predict {
        /// The text to score.
        text: String,
        /// The model (default: the server's default model).
        #[arg(long, short)]
        model: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Embed texts with AIService.embed and print one JSON array per text.
    Embed {
        /// The texts to embed.
        #[arg(required = true)]
        texts: Vec<String>,
        /// The model (default: the server's default model).
        #[arg(long, short)]
        model: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Run ModelInfer with input tensors from a JSON file (V2 JSON form:
    /// {"inputs": [{"name", "datatype", "shape", "data"}], "outputs": [{"name"}]}).
    Infer {
        /// The model.
        #[arg(long, short)]
        model: String,
        /// The model version (default: newest).
        #[arg(long, default_value = "")]
        version: String,
        /// The JSON request file ("-" for standard input).
        #[arg(long, short)]
        input: PathBuf,
        /// Send tensors in typed contents instead of raw bytes.
        #[arg(long)]
        typed: bool,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List, load or unload models.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Check a server's health (exit code 0 when serving).
    Health {
        /// A service or model name; empty for the whole server.
        #[arg(long, default_value = "")]
        service: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Load-test a server: throughput, latency percentiles (HDR histogram) and
    /// errors by status, for gRPC/HTTP predict, embed and V2 infer.
    Bench(aiserve_bench::BenchArgs),
    /// Evaluate a model on a sentiment TSV (domain, id, valence, text):
    /// Pearson r and sign accuracy per domain and overall. Runs in-process.
    Eval {
        /// The TSV file.
        #[arg(long)]
        data: PathBuf,
        /// The model (default: the built-in sentiment model).
        #[arg(long, short, default_value = "sentiment")]
        model: String,
        /// A model repository (default: the built-in one).
        #[arg(long)]
        repository: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum ModelsAction {
    /// The repository index: every model, its versions and state.
    List,
    /// Load or reload a model.
    Load {
        /// The model.
        name: String,
    },
    /// Unload a model.
    Unload {
        /// The model.
        name: String,
    },
}

#[derive(Args, Debug)]
struct ClientArgs {
    /// The server's address.
    #[arg(
        long,
        short,
        global = true,
        env = "AISERVE_SERVER",
        default_value = "127.0.0.1:50051"
    )]
    server: String,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Address of the gRPC services.
    #[arg(long, short, default_value = "127.0.0.1:50051")]
    listen: SocketAddr,
    /// Address of the REST API (Open Inference Protocol over HTTP, /v1/predict), or `off`.
    #[arg(long, default_value = "127.0.0.1:8000", value_parser = parse_listen_or_off)]
    http_listen: ::std::option::Option<SocketAddr>,
    /// Address of the Prometheus endpoint (GET /metrics), or `off`.
    #[arg(long, default_value = "127.0.0.1:8002", value_parser = parse_listen_or_off)]
    metrics_listen: ::std::option::Option<SocketAddr>,
    /// Model repository folder (Triton layout: <model>/config.pbtxt, <model>/<version>/model.onnx).
    /// Without it the built-in repository is served.
    #[arg(long, short)]
    repository: Option<PathBuf>,
    /// Inference threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Log filter (error, warn, info, debug, trace, or a tracing filter).
    #[arg(long, env = "AISERVE_LOG", default_value = "info")]
    log_level: String,
    /// How models change while serving: none, explicit (load/unload requests) or poll.
    #[arg(long, default_value = "explicit", value_parser = parse_model_control)]
    model_control: ModelControl,
    /// Seconds between repository scans in poll mode.
    #[arg(long, default_value_t = 5.0)]
    poll_interval: f64,
    /// The model AIService.predict uses when a request names none.
    #[arg(long)]
    default_model: Option<String>,
    /// Largest message in bytes; larger requests get RESOURCE_EXHAUSTED.
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    max_message_bytes: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Predict { text, model, client } => {
            let mut c = Client::connect(&client.server).await?;
            let r = c.predict(&text, model.as_deref()).await?;
            println!("Prediction result: {}", r.result);
            Ok(ExitCode::SUCCESS)
        }
        Command::Embed { texts, model, client } => {
            let mut c = Client::connect(&client.server).await?;
            let r = c.embed(texts, model.as_deref()).await?;
            for e in r.embeddings {
                println!("{}", serde_json::to_string(&e.values)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Infer {
            model,
            version,
            input,
            typed,
            client,
        } => infer(&client.server, &model, &version, &input, typed).await,
        Command::Models { action, client } => {
            let mut c = Client::connect(&client.server).await?;
            match action {
                ModelsAction::List => {
                    println!("{:<24} {:<8} {:<12} REASON", "MODEL", "VERSION", "STATE");
                    for m in c.repository_index(false).await? {
                        println!("{:<24} {:<8} {:<12} {}", m.name, m.version, m.state, m.reason);
                    }
                }
                ModelsAction::Load { name } => {
                    c.load_model(&name).await?;
                    println!("loaded {name}");
                }
                ModelsAction::Unload { name } => {
                    c.unload_model(&name).await?;
                    println!("unloaded {name}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Health { service, client } => {
            let mut c = Client::connect(&client.server).await?;
            let status = c.health(&service).await?;
            let name = if service.is_empty() {
                "server"
            } else {
                service.as_str()
            };
            println!("{name}: {status:?}");
            Ok(if status == aiserve_client::ServingStatus::Serving {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Eval {
            data,
            model,
            repository,
        } => eval(&data, &model, repository).await,
        Command::Bench(args) => {
            println!("{}", aiserve_bench::run(&args).await?);
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log_level)
        .with_context(|| format!("invalid --log-level '{}'", args.log_level))?;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    if !args.poll_interval.is_finite() || args.poll_interval <= 0.0 {
        bail!("--poll-interval must be a positive number of seconds");
    }
    let mut registry = RegistryOptions {
        default_model: args.default_model,
        control: args.model_control,
        ..RegistryOptions::default()
    };
    if let Some(t) = args.threads {
        if t == 0 {
            bail!("--threads must be at least 1");
        }
        registry.threads = t;
    }
    if let Some(r) = &args.repository {
        if !r.is_dir() {
            bail!("model repository {} is not a folder", r.display());
        }
    }
    let config = ServeConfig {
        listen: args.listen,
        http_listen: args.http_listen,
        metrics_listen: args.metrics_listen,
        repository: args.repository,
        registry,
        server: ServerOptions {
            max_message_bytes: args.max_message_bytes,
            poll_interval: Duration::from_secs_f64(args.poll_interval),
        },
    };
    let server = aiserve::start(config).await.context("cannot start the server")?;
    tracing::info!(addr = %server.addr, "aiserve listening (AIService, inference.GRPCInferenceService, health, reflection)");
    if let Some(addr) = server.http_addr {
        tracing::info!(%addr, "REST API listening (/v2/..., /v1/predict)");
    }
    if let Some(addr) = server.metrics_addr {
        tracing::info!(%addr, "metrics listening (GET /metrics)");
    }
    shutdown_signal().await;
    tracing::info!("signal received: finishing requests in flight");
    server.shutdown().await?;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler installs");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn infer(
    server: &str,
    model: &str,
    version: &str,
    input: &PathBuf,
    typed: bool,
) -> anyhow::Result<ExitCode> {
    let text = if input.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(input).with_context(|| format!("cannot read {}", input.display()))?
    };
    let request: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", input.display()))?;
    let inputs = request
        .get("inputs")
        .and_then(|v| v.as_array())
        .context("the request has no \"inputs\" array")?
        .iter()
        .map(tensor_from_json)
        .collect::<Result<Vec<_>, _>>()?;
    let outputs: Vec<String> = request
        .get("outputs")
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|o| o.get("name").and_then(|n| n.as_str()).map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    let mut c = Client::connect(server).await?;
    let encoding = if typed { Encoding::Typed } else { Encoding::Raw };
    let result = c.infer(model, version, inputs, &outputs, encoding).await?;
    let json = serde_json::json!({
        "model_name": result.model,
        "model_version": result.version,
        "outputs": result.outputs.iter().map(tensor_to_json).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&json)?);
    Ok(ExitCode::SUCCESS)
}

async fn eval(data: &PathBuf, model: &str, repository: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let examples = aiserve_sentiment::eval::read_tsv(data)?;
    let registry = aiserve_core::ModelRegistry::new(
        aiserve::repository(repository),
        aiserve::backends(),
        RegistryOptions::default(),
    );
    if let Err(e) = registry.load(model).await {
        bail!("cannot load model '{model}': {e}");
    }
    let texts: Vec<String> = examples.iter().map(|e| e.text.clone()).collect();
    let prediction = registry.predict(model, "", texts, None).await?;
    let report = aiserve_sentiment::eval::evaluate(&examples, &prediction.scores);
    println!(
        "model: {} (version {}), data: {}",
        prediction.model,
        prediction.version,
        data.display()
    );
    println!("{report}");
    Ok(ExitCode::SUCCESS)
}
