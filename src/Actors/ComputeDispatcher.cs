namespace PapaActors.Actors;

/// <summary>
/// The dispatcher (hocon/akka.conf) of actors whose receives compute for a while: averaging, souping, weight
/// matching, loading a dataset. Its own few threads keep the default dispatcher free for remoting, cluster
/// heartbeats and timers.
/// </summary>
public static class ComputeDispatcher
{
    public const string Id = "akka.actor.papa-compute-dispatcher";
}
