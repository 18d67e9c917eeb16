using Akka.Actor;
using Akka.Cluster;

namespace PapaActors.Actors.Security;

/// <summary>
/// Where the messages that steer members and node reducers may come from: an actor of this node, or of the
/// averager's node, the oldest node of the averager role, where the run's singleton runs (a stranger that joins
/// with that role is younger). Anything else comes from a stranger on the network.
/// </summary>
public static class TrustedSenders
{
    /// <summary>The cluster role of the node that runs the run's singleton (the averager).</summary>
    public const string AveragerRole = "averager";

    public static bool MaySteer(ActorSystem system, IActorRef sender) =>
        IsOfThisNode(system, sender) || IsAveragerNode(system, sender.Path.Address);

    /// <summary>
    /// An actor of this process. A message from the network sent without a sender arrives from deadLetters, whose
    /// address is local too, so no sender is no proof of anything.
    /// </summary>
    public static bool IsOfThisNode(ActorSystem system, IActorRef sender) =>
        sender.Path.Address.HasLocalScope && !sender.IsNobody() && !sender.Equals(system.DeadLetters);

    private static bool IsAveragerNode(ActorSystem system, Address address)
    {
        if (((ExtendedActorSystem)system).Provider is not IClusterActorRefProvider)
            return false;
        var averager = Akka.Cluster.Cluster.Get(system).State.Members
            // Leaving and Exiting too: an averager that ends the run leaves the cluster right after its last messages
            // (RunEnded), which a busy member may handle only after the gossip of its leaving has come.
            .Where(m => m.HasRole(AveragerRole) && m.Status is MemberStatus.Up or MemberStatus.Leaving or MemberStatus.Exiting)
            .OrderBy(m => m, Member.AgeOrdering)
            .FirstOrDefault();
        return averager is not null && averager.Address.Equals(address);
    }
}
