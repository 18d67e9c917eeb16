using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using PapaActors.Actors.Configuration;

namespace PapaActors.Actors.Tls;

/// <summary>
/// Makes a cluster's CA and its nodes' certificates in a folder, with .NET alone (no openssl): `ca.pem` (the CA's
/// certificate, for papa.cluster.tls.ca), `ca-key.pfx` (the CA's key: it signs more nodes later; keep it off the
/// nodes) and `NAME.pfx` per node (its certificate and key, for papa.cluster.tls.certificate).
/// </summary>
public static class ClusterCertificates
{
    public const string CaFile = "ca.pem";
    public const string CaKeyFile = "ca-key.pfx";
    private static readonly TimeSpan CaLifetime = TimeSpan.FromDays(3650);
    private static readonly TimeSpan NodeLifetime = TimeSpan.FromDays(825);

    /// <summary>
    /// Writes a certificate for each of <paramref name="names"/> (a host name or IP address each, also its subject alternative
    /// name) signed by the CA in <paramref name="folder"/>, which is made first if the folder has none. Loopback names are
    /// added when <paramref name="loopback"/>, for nodes that talk over 127.0.0.1. Returns the node files written.
    /// </summary>
    /// <param name="password">protects every PFX written (null: none)</param>
    public static IReadOnlyList<string> Write(string folder, IReadOnlyList<string> names, string? password, bool loopback = false)
    {
        Directory.CreateDirectory(folder);
        using var ca = LoadOrCreateCa(folder, password);
        return names.Select(name =>
        {
            var file = Path.Combine(folder, $"{name}.pfx");
            using var node = Issue(ca, name, loopback);
            WritePrivate(file, node.Export(X509ContentType.Pfx, password));
            return file;
        }).ToList();
    }

    /// <summary>
    /// The `papa.cluster.tls` overrides of a node named <paramref name="node"/> talking over loopback, its certificate signed
    /// by the CA in <paramref name="folder"/> (made on first use): throwaway certificates for benchmarks and tests.
    /// </summary>
    public static string[] LoopbackNodeSettings(string folder, string node) =>
    [
        "cluster.tls.enabled=on", $"cluster.tls.certificate={Write(folder, [node], password: null, loopback: true)[0]}",
        $"cluster.tls.ca={Path.Combine(folder, CaFile)}",
    ];

    private static X509Certificate2 LoadOrCreateCa(string folder, string? password)
    {
        var keyFile = Path.Combine(folder, CaKeyFile);
        if (File.Exists(keyFile))
        {
            try
            {
                return X509CertificateLoader.LoadPkcs12FromFile(keyFile, password);
            }
            catch (CryptographicException e)
            {
                throw new ConfigException($"{keyFile} cannot be read ({e.Message.TrimEnd('.')}; a wrong or missing password?)", e);
            }
        }
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=PapaActors cluster CA {DateTime.UtcNow:yyyy-MM-dd HH:mm:ss}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        var ca = request.CreateSelfSigned(now.AddDays(-1), now + CaLifetime);
        File.WriteAllText(Path.Combine(folder, CaFile), ca.ExportCertificatePem());
        WritePrivate(keyFile, ca.Export(X509ContentType.Pfx, password));
        return ca;
    }

    private static X509Certificate2 Issue(X509Certificate2 ca, string name, bool loopback)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        // Every node is a server (it accepts connections) and a client (it opens them).
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var names = new SubjectAlternativeNameBuilder();
        foreach (var host in loopback ? [name, "localhost", "127.0.0.1"] : new[] { name })
        {
            if (IPAddress.TryParse(host, out var address))
                names.AddIpAddress(address);
            else
                names.AddDnsName(host);
        }
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var now = DateTimeOffset.UtcNow;
        var notAfter = now + NodeLifetime < ca.NotAfter ? now + NodeLifetime : ca.NotAfter;
        using var issued = request.Create(ca, now.AddDays(-1), notAfter, RandomNumberGenerator.GetBytes(16));
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Keys are readable by their owner only.</summary>
    private static void WritePrivate(string file, byte[] bytes)
    {
        File.WriteAllBytes(file, []);
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllBytes(file, bytes);
    }
}
