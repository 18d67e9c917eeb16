using System.Collections.Immutable;
using PapaActors.Actors.Messages;

namespace PapaActors.Actors.Run;

/// <summary>
/// Who runs each member index and on which node (its node's reducer), the population's weight layout, and the indices
/// offered to member nodes that asked which they may run.
/// </summary>
public sealed class MemberTable<TPeer>(int population, Func<TPeer, string> describe) where TPeer : class
{
    /// <summary>How long indices offered to a member node stay reserved for it, so two spare nodes never get the same.</summary>
    private static readonly TimeSpan OfferHold = TimeSpan.FromMinutes(1);

    private readonly TPeer?[] _members = new TPeer?[population];
    private readonly TPeer?[] _reducers = new TPeer?[population];
    private readonly Dictionary<int, (string Node, DateTimeOffset Until)> _offers = [];

    public int Population => population;

    public string? LayoutFingerprint { get; private set; }

    public TPeer? this[int index] => _members[index];

    public bool IsComplete => _members.All(m => m is not null);

    /// <summary>The indices no member runs now.</summary>
    public IEnumerable<int> Missing => Enumerable.Range(0, population).Where(i => _members[i] is null);

    /// <summary>Every member, in index order (the table must be complete).</summary>
    public IEnumerable<TPeer> All => _members.Select(m => m!);

    /// <summary>The members there are now.</summary>
    public IEnumerable<TPeer> Present => _members.OfType<TPeer>();

    /// <summary>The node reducers, each once, in the order of their first member.</summary>
    public IEnumerable<TPeer> Reducers => _reducers.Distinct().Select(r => r!);

    public TPeer ReducerOf(int member) => _reducers[member]!;

    public IEnumerable<int> MembersOn(TPeer reducer) => Enumerable.Range(0, population).Where(i => reducer.Equals(_reducers[i]));

    public bool IsReducer(TPeer peer) => _reducers.Contains(peer);

    /// <summary>Whether <paramref name="peer"/> runs member <paramref name="index"/> (an index out of range is nobody's).</summary>
    public bool IsMember(int index, TPeer peer) => index >= 0 && index < population && peer.Equals(_members[index]);

    public int IndexOf(Func<TPeer, bool> matches) => Array.FindIndex(_members, m => m is not null && matches(m));

    /// <summary>
    /// Why a registration before the run (or while it goes back) is refused: an index out of range or run by another
    /// member, or a weight layout unlike the population's; null when it may be taken.
    /// </summary>
    public string? Refusal(Registration<TPeer> registration) =>
        registration.Index < 0 || registration.Index >= population ? $"member index {registration.Index} is outside the population 0..{population - 1}"
        : _members[registration.Index] is { } existing && !existing.Equals(registration.Member) ? $"member index {registration.Index} is already registered by {describe(existing)}"
        : LayoutFingerprint is not null && registration.LayoutFingerprint != LayoutFingerprint
            ? $"member {registration.Index} has weight layout {registration.LayoutFingerprint}, the population has {LayoutFingerprint} (different model or config?)"
        : null;

    /// <summary>Takes a registration that has no <see cref="Refusal"/>; true when the index had no member.</summary>
    public bool Take(Registration<TPeer> registration)
    {
        LayoutFingerprint ??= registration.LayoutFingerprint;
        var isNew = _members[registration.Index] is null;
        _members[registration.Index] = registration.Member;
        _reducers[registration.Index] = registration.Reducer;
        _offers.Remove(registration.Index); // taken: a later replacement of this member must not wait for the offer to expire
        return isNew;
    }

    /// <summary>
    /// Once the run has started only a restarted member registers again, with the same reference (its node's reducer
    /// may be new): null when that is this one, else why it is refused.
    /// </summary>
    public string? RegisterAgain(Registration<TPeer> registration)
    {
        var index = registration.Index;
        if (IsMember(index, registration.Member))
        {
            _reducers[index] = registration.Reducer;
            return null;
        }
        return index >= 0 && index < population
            ? $"member index {index} is already registered by {(_members[index] is { } existing ? describe(existing) : "a member that was lost")} and the run has started"
            : $"member index {index} is outside the population 0..{population - 1}";
    }

    public void Remove(int index) => _members[index] = null;

    /// <summary>
    /// The indices a member node may run: those it wants (all, or none while any is taken or held for another node), or
    /// with no list every free one. They are held for that node a while.
    /// </summary>
    public ImmutableArray<int> Offer(RequestMissingMembers request, DateTimeOffset now)
    {
        bool Free(int i) => _members[i] is null && !(_offers.TryGetValue(i, out var offer) && offer.Node != request.Node && offer.Until > now);
        var offered = request.Wanted is { } wanted
            ? wanted.All(i => i >= 0 && i < population && Free(i)) ? wanted : []
            : Enumerable.Range(0, population).Where(Free).ToImmutableArray();
        foreach (var index in offered)
            _offers[index] = (request.Node, now + OfferHold);
        return offered;
    }
}
