using Akka.Actor;
using Akka.Event;

namespace PapaActors.Actors.Security;

/// <summary>
/// Logs a message dropped because its sender may not send it, once per sender: a stranger that floods an actor
/// must not flood the log. Remembers a bounded number of senders.
/// </summary>
public sealed class StrangerLog(ILoggingAdapter log)
{
    private const int Remembered = 1024;
    private readonly HashSet<IActorRef> _logged = [];

    public void Drop(object message, IActorRef sender)
    {
        if (_logged.Count < Remembered && _logged.Add(sender))
            log.Warning("dropping {0} from {1}, which may not send it here (later ones from it are dropped without a word)", message.GetType().Name, sender.Path);
    }
}
