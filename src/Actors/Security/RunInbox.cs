using Akka.Actor;
using PapaActors.Actors.Messages;

namespace PapaActors.Actors.Security;

/// <summary>
/// A message of this node handed to another of its actors in a run with a secret. It has no wire format (no codec,
/// JSON refused), so only this process can send one: it is how a receiver tells this node's own messages from the
/// network's, which a sender path cannot (a stranger may name any path, this node's too).
/// </summary>
public sealed record FromThisNode(IPapaMessage Message) : INoSerializationVerificationNeeded;

/// <summary>
/// The first check of every actor that takes the run's messages (called first in its AroundReceive): with a
/// <see cref="RunSession"/>, a run's message counts only sealed by a node of the run (and fresh) or handed over by
/// this node (<see cref="FromThisNode"/>); anything else is dropped and logged once per sender. The only unsealed
/// messages taken are those a node sends before it holds the session key, each with its own proof or check.
/// Without a session (no run secret) every message counts: anyone who reaches the port controls the run.
/// </summary>
public static class RunInbox
{
    /// <summary>
    /// Opens <paramref name="message"/> in place; false when it must be dropped (it was, with <paramref name="strangers"/>).
    /// </summary>
    public static bool TryOpen(RunSession? session, ref object message, IActorRef sender, IActorRef receiver, StrangerLog strangers)
    {
        switch (message)
        {
            case FromThisNode local:
                message = local.Message;
                return true;
            case Sealed sealedMessage when session is not null && session.Open(sealedMessage, sender, receiver):
                message = sealedMessage.Message;
                return true;
            case Sealed sealedMessage:
                strangers.Drop(sealedMessage.Message, sender);
                return false;
            case IPapaMessage unsealed when session is not null && !TakenUnsealed(unsealed):
                strangers.Drop(unsealed, sender);
                return false;
            default:
                return true;
        }
    }

    /// <summary>
    /// What comes before a node holds the session key (a config request and its answers, with proofs of the secret, and a
    /// member's registration, with its own proof), and a stream failure notice, which names a transfer an authenticated
    /// announcement opened (a random 63-bit number) and so concerns nothing else.
    /// </summary>
    private static bool TakenUnsealed(IPapaMessage message) =>
        message is RequestRunConfig or RunConfigText or RunConfigRefused or RegisterMember or StreamTransferFailed;
}
