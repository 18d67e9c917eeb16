using Akka.Configuration;

namespace PapaActors.Actors.Configuration;

/// <summary>
/// Mutual TLS for Akka.Remote and the stream path: `papa.cluster.tls`. Holds file paths and where the password is,
/// never the password itself, so the settings may be printed and written to the run folder.
/// </summary>
/// <param name="Certificate">this node's certificate with its key: a PFX file, or a PEM file with <paramref name="Key"/></param>
/// <param name="Ca">the CA that signs every node's certificate; the only one trusted</param>
public sealed record TlsSettings(bool Enabled, string Certificate, string Key, string PasswordFile, string PasswordEnv, string Ca, bool ValidateHostname)
{
    public static readonly TlsSettings Off = new(false, "", "", "", "", "", false);

    /// <summary>Reads `papa.cluster.tls` from <paramref name="config"/> over the documented defaults.</summary>
    public static TlsSettings FromConfig(Config config) =>
        Read(new SettingsReader(ReferenceEquals(config, PapaConfig.Defaults) ? config : config.WithFallback(PapaConfig.Defaults)));

    internal static TlsSettings Read(SettingsReader read)
    {
        if (!read.Bool("cluster.tls.enabled"))
            return Off;
        var certificate = read.Text("cluster.tls.certificate");
        var key = read.OptionalText("cluster.tls.key");
        var pem = certificate.EndsWith(".pem", StringComparison.OrdinalIgnoreCase) || certificate.EndsWith(".crt", StringComparison.OrdinalIgnoreCase);
        if (pem && key.Length == 0)
            throw new ConfigException($"'papa.cluster.tls.certificate' = '{certificate}' is a PEM certificate: 'papa.cluster.tls.key' must name its private key file");
        var passwordFile = read.OptionalText("cluster.tls.password-file");
        var passwordEnv = read.OptionalText("cluster.tls.password-env");
        if (passwordFile.Length > 0 && passwordEnv.Length > 0)
            throw new ConfigException("'papa.cluster.tls.password-file' and 'papa.cluster.tls.password-env' are both set: give the password one way");
        return new TlsSettings(true, certificate, key, passwordFile, passwordEnv, read.Text("cluster.tls.ca"), read.Bool("cluster.tls.validate-hostname"));
    }

    /// <summary>The password of the certificate's key, or null when none is configured.</summary>
    /// <exception cref="ConfigException">the password file or environment variable is missing</exception>
    public string? ReadPassword()
    {
        if (PasswordFile.Length > 0)
            return File.Exists(PasswordFile)
                ? File.ReadLines(PasswordFile).FirstOrDefault() ?? ""
                : throw new ConfigException($"'papa.cluster.tls.password-file' = '{PasswordFile}': no such file");
        if (PasswordEnv.Length > 0)
            return Environment.GetEnvironmentVariable(PasswordEnv)
                ?? throw new ConfigException($"'papa.cluster.tls.password-env' = '{PasswordEnv}': that environment variable is not set");
        return null;
    }
}
