namespace PapaActors.Actors.Messages;

/// <summary>Marks the messages that cross the network; <see cref="Serialization.PapaSerializer"/> writes them all.</summary>
public interface IPapaMessage;

/// <summary>The version of the messages' encoding, checked when a node asks for the run config and when a member registers.</summary>
public static class WireProtocol
{
    /// <summary>
    /// Bump it with any change of a message's encoding (a field added, removed, retyped or reordered, a manifest
    /// renamed or removed): nodes of two builds then refuse each other with a clear error instead of misreading bytes.
    /// </summary>
    public const int Version = 4;
}

/// <summary>An HMAC-SHA256 (hex) over a request and the <paramref name="Nonce"/> of a <see cref="SecretChallenge"/> (see Security.RunSecret).</summary>
public sealed record SecretProof(string Nonce, string Mac);

/// <summary>The averager's node asks for a proof of the run secret over the request it answers, with a fresh nonce.</summary>
public sealed record SecretChallenge(string Nonce) : IPapaMessage;
