//! `keliweb-emulator [--port N] [--access-lifetime SECS] [--refresh-lifetime SECS]
//! [--passport 8|9] [--throttle N]`: serves on 127.0.0.1 until interrupted, printing each request.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use keliweb_emulator::{Emulator, EmulatorConfig, PassportVersion};

const USAGE: &str = "usage: keliweb-emulator [--port N] [--access-lifetime SECS] \
[--refresh-lifetime SECS] [--passport 8|9] [--throttle REQUESTS_PER_MINUTE]";

fn main() -> ExitCode {
    let (config, port) = match parse_args(std::env::args().skip(1)) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("keliweb-emulator: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let emulator = match Emulator::start_on(config, SocketAddr::from((Ipv4Addr::LOCALHOST, port))) {
        Ok(emulator) => emulator,
        Err(error) => {
            eprintln!("keliweb-emulator: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    let config = emulator.config();
    println!("keliweb-emulator listening on {}", emulator.base_url());
    println!("  token endpoint   POST {}", emulator.token_url());
    println!("  RFC 7009 revoke  POST {}", emulator.revoke_url());
    println!("  logout           POST {}", emulator.logout_url());
    println!("  protected API    GET  {}", emulator.api_url());
    println!("example credentials:");
    println!("  client_id      {}", config.client_id);
    println!("  client_secret  {}", config.client_secret);
    println!("  username       {}", config.username);
    println!("  password       {}", config.password);
    println!(
        "access tokens live {} s, refresh tokens {} s; Passport {:?}; Ctrl-C to stop",
        config.access_lifetime.as_secs(),
        config.refresh_lifetime.as_secs(),
        config.passport,
    );

    let mut seen = 0;
    loop {
        std::thread::sleep(Duration::from_millis(200));
        for entry in emulator.requests_since(seen) {
            seen += 1;
            println!(
                "{} {} grant_type={} -> {}{}",
                entry.method,
                entry.path,
                entry.grant_type.as_deref().unwrap_or("-"),
                entry.status,
                entry
                    .fault
                    .map(|f| format!(" [fault {f}]"))
                    .unwrap_or_default(),
            );
        }
    }
}

/// The configuration and port from the command line; `None` for `--help`.
fn parse_args(
    mut args: impl Iterator<Item = String>,
) -> Result<Option<(EmulatorConfig, u16)>, String> {
    let mut config = EmulatorConfig::default();
    let mut port = 0;
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        const FLAGS: [&str; 5] = [
            "--port",
            "--access-lifetime",
            "--refresh-lifetime",
            "--passport",
            "--throttle",
        ];
        if !FLAGS.contains(&flag.as_str()) {
            return Err(format!("unknown option {flag}"));
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |what: &str| -> Result<u64, String> {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag}: {what} expected, got {value:?}"))
        };
        match flag.as_str() {
            "--port" => {
                port = u16::try_from(number("a port number")?)
                    .map_err(|_| format!("--port: {value} is out of range"))?;
            }
            "--access-lifetime" => {
                config.access_lifetime = Duration::from_secs(number("seconds")?);
            }
            "--refresh-lifetime" => {
                config.refresh_lifetime = Duration::from_secs(number("seconds")?);
            }
            "--passport" => {
                config.passport = match value.as_str() {
                    "8" => PassportVersion::V8,
                    "9" => PassportVersion::V9,
                    _ => return Err(format!("--passport: 8 or 9 expected, got {value:?}")),
                };
            }
            "--throttle" => {
                let limit = u32::try_from(number("a request count")?)
                    .map_err(|_| format!("--throttle: {value} is out of range"))?;
                config.max_token_requests_per_minute = Some(limit);
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(Some((config, port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<(EmulatorConfig, u16)>, String> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn parses_flags() {
        let (config, port) = parse(&[
            "--port",
            "8080",
            "--access-lifetime",
            "5",
            "--passport",
            "9",
        ])
        .unwrap()
        .unwrap();
        assert_eq!(port, 8080);
        assert_eq!(config.access_lifetime, Duration::from_secs(5));
        assert_eq!(config.passport, PassportVersion::V9);
        assert!(parse(&["--help"]).unwrap().is_none());
        assert!(parse(&["--port"]).is_err());
        assert!(parse(&["--passport", "7"]).is_err());
        assert_eq!(parse(&["--bogus"]).unwrap_err(), "unknown option --bogus");
        assert!(parse(&["--port", "70000"]).is_err());
    }
}
