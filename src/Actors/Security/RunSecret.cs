using System.Security.Cryptography;
using System.Text;
using PapaActors.Actors.Configuration;
using PapaActors.Actors.Messages;

namespace PapaActors.Actors.Security;

/// <summary>
/// The secret a cluster run shares between its nodes. A node proves it holds it with an HMAC-SHA256 over what it
/// asks for and a fresh nonce from the averager's node (<see cref="SecretChallenge"/>), so the secret itself never
/// crosses the network and an old proof does not answer a new nonce. Its bytes are never logged nor written.
/// </summary>
public sealed class RunSecret
{
    /// <summary>Holds the secret itself when `papa.cluster.secret-file` is empty.</summary>
    public const string EnvironmentVariable = "PAPA_CLUSTER_SECRET";
    // 128 bits: a shorter secret could be guessed offline from one captured proof.
    private const int MinimumBytes = 16;
    private readonly byte[] _key;

    private RunSecret(byte[] key) => _key = key;

    /// <summary>
    /// The secret of <paramref name="secretFile"/> (its whole content, without a final line break), or else of the
    /// environment variable; null when neither is set (a run for trusted networks only).
    /// </summary>
    public static RunSecret? Load(string? secretFile)
    {
        string text;
        string source;
        if (!string.IsNullOrEmpty(secretFile))
        {
            try
            {
                text = File.ReadAllText(secretFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ConfigException($"papa.cluster.secret-file: cannot read {secretFile} ({e.Message})", e);
            }
            source = $"papa.cluster.secret-file ({secretFile})";
        }
        else if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } variable)
        {
            (text, source) = (variable, EnvironmentVariable);
        }
        else
        {
            return null;
        }
        var key = Encoding.UTF8.GetBytes(text.TrimEnd('\r', '\n'));
        if (key.Length < MinimumBytes)
            throw new ConfigException($"{source}: the run secret has {key.Length} bytes, at least {MinimumBytes} are needed (make one with `openssl rand -hex 32`)");
        return new RunSecret(key);
    }

    /// <summary>A fresh random nonce for one challenge.</summary>
    public static string NewNonce() => Convert.ToHexString(RandomNumberGenerator.GetBytes(32));

    /// <summary>The proof for <paramref name="request"/> (what the node asks, in words that bind it) under <paramref name="nonce"/>.</summary>
    public SecretProof Prove(string nonce, string request) => new(nonce, Convert.ToHexString(Mac(nonce, request)));

    /// <summary>Compared in constant time, so the time of a refusal tells nothing about the right proof.</summary>
    public bool Verifies(SecretProof proof, string request) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(proof.Mac), Encoding.ASCII.GetBytes(Prove(proof.Nonce, request).Mac));

    private byte[] Mac(string nonce, string request) => HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes($"{request}\n{nonce}"));

    /// <summary>What a request for the run configuration binds: the asking node and its protocol version.</summary>
    public static string ConfigRequest(RequestRunConfig request) => $"config\n{request.Node}\n{request.ProtocolVersion}";

    /// <summary>What a registration binds: the index, the member and its reducer (by path), the layout and the protocol version.</summary>
    public static string Registration(RegisterMember registration) =>
        $"register\n{registration.Index}\n{registration.Member.Path.ToStringWithoutAddress()}\n{registration.Reducer.Path.ToStringWithoutAddress()}\n{registration.LayoutFingerprint}\n{registration.ProtocolVersion}";

    public override string ToString() => "(run secret)";
}
