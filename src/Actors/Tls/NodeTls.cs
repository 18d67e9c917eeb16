using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;
using PapaActors.Actors.Configuration;

namespace PapaActors.Actors.Tls;

/// <summary>
/// This node's TLS identity (its certificate and key) and the one CA it trusts, loaded once per ActorSystem: Akka.Remote
/// and the stream path both authenticate with it, so a peer gets in on both or on neither.
/// </summary>
public sealed class NodeTls : Setup
{
    private NodeTls(X509Certificate2 certificate, X509Certificate2 authority, bool validateHostname) =>
        (Certificate, Authority, ValidateHostname) = (certificate, authority, validateHostname);

    public X509Certificate2 Certificate { get; }
    public X509Certificate2 Authority { get; }
    public bool ValidateHostname { get; }

    /// <exception cref="ConfigException">a file is missing or unreadable, the password is wrong, or the certificate has no key</exception>
    public static NodeTls Load(TlsSettings settings)
    {
        var password = settings.ReadPassword();
        var certificate = Read("certificate", settings.Certificate, () => settings.Key.Length > 0
            ? password is null
                ? X509Certificate2.CreateFromPemFile(settings.Certificate, settings.Key)
                : X509Certificate2.CreateFromEncryptedPemFile(settings.Certificate, password, settings.Key)
            : X509CertificateLoader.LoadPkcs12FromFile(settings.Certificate, password));
        if (!certificate.HasPrivateKey)
            throw new ConfigException($"'papa.cluster.tls.certificate' = '{settings.Certificate}' holds no private key: give a PFX with its key, or a PEM certificate and 'papa.cluster.tls.key'");
        var authority = Read("ca", settings.Ca, () => X509CertificateLoader.LoadCertificateFromFile(settings.Ca));
        return new NodeTls(certificate, authority, settings.ValidateHostname);
    }

    private static X509Certificate2 Read(string key, string path, Func<X509Certificate2> load)
    {
        if (!File.Exists(path))
            throw new ConfigException($"'papa.cluster.tls.{key}' = '{path}': no such file");
        try
        {
            return load();
        }
        catch (CryptographicException e)
        {
            throw new ConfigException($"'papa.cluster.tls.{key}' = '{path}' cannot be read ({e.Message.TrimEnd('.')}; a wrong or missing password?)", e);
        }
    }

    /// <summary>The TLS identity an ActorSystem was created with (by <see cref="PapaSystemSetup"/>), or null without TLS.</summary>
    public static NodeTls? Of(ActorSystem system) => system.Settings.Setup.Get<NodeTls>().GetOrElse(null!);

    /// <summary>
    /// A peer is trusted when it shows a certificate that chains to our CA and to nothing else; with validate-hostname, an
    /// outbound connection's peer must also be named for the host it was reached at (only the connecting side can check that).
    /// </summary>
    public bool Trusts(X509Certificate? peer, SslPolicyErrors errors)
    {
        if (peer is null || (ValidateHostname && errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch)))
            return false;
        using var certificate = X509CertificateLoader.LoadCertificate(peer.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Authority);
        // Throwaway cluster CAs publish no revocation lists; a compromised node's certificate is revoked by a new CA.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    /// <summary>Akka.Remote's mutual TLS with our CA as the only trust anchor.</summary>
    public DotNettySslSetup AkkaSetup() => new(Certificate, suppressValidation: false, requireMutualAuthentication: true,
        validateCertificateHostname: ValidateHostname, customValidator: (certificate, _, peer, errors, log) =>
        {
            if (Trusts(certificate, errors))
                return true;
            log.Warning("refused the TLS peer {0}: {1}", peer, Describe(certificate));
            return false;
        });

    /// <summary>The stream path's server side of the handshake: a client without a certificate of our CA is refused.</summary>
    /// <exception cref="AuthenticationException">the handshake failed; the message says why</exception>
    public SslStream AuthenticateAsServer(Stream connection) => Handshake(connection, ssl => ssl.AuthenticateAsServer(new SslServerAuthenticationOptions
    {
        ServerCertificate = Certificate,
        ClientCertificateRequired = true,
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, peer, _, errors) => Trusts(peer, errors) ? true
            : throw new AuthenticationException($"the connecting node showed {Describe(peer)}"),
    }));

    /// <summary>The stream path's client side: the server must show a certificate of our CA, and sees ours.</summary>
    /// <exception cref="AuthenticationException">the handshake failed; the message says why</exception>
    public SslStream AuthenticateAsClient(Stream connection, string host) => Handshake(connection, ssl => ssl.AuthenticateAsClient(new SslClientAuthenticationOptions
    {
        TargetHost = host,
        ClientCertificates = [Certificate],
        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        RemoteCertificateValidationCallback = (_, peer, _, errors) => Trusts(peer, errors) ? true
            : throw new AuthenticationException($"{host} showed {Describe(peer)}"),
    }));

    /// <summary>The connection wrapped in TLS after <paramref name="handshake"/>; closed if the handshake fails.</summary>
    private static SslStream Handshake(Stream connection, Action<SslStream> handshake)
    {
        var ssl = new SslStream(connection, leaveInnerStreamOpen: false);
        try
        {
            handshake(ssl);
            return ssl;
        }
        catch
        {
            ssl.Dispose();
            throw;
        }
    }

    private string Describe(X509Certificate? peer) => peer is null
        ? "no certificate"
        : $"a certificate '{peer.Subject}' issued by '{peer.Issuer}', not one of the CA '{Authority.Subject}'{(ValidateHostname ? " for the host it was reached at" : "")}";
}
