// The tests run as two queues side by side: the test classes whose work is in child processes (papa programs and
// scripts) in one, every other class in the other. A script spends much of its time waiting (for a failure detector,
// a process to start), and in-process tests fill the second core meanwhile. In-process tests stay one at a time,
// because papa's entry point and libtorch's thread count are process-wide.
[assembly: CollectionBehavior(CollectionBehavior.CollectionPerAssembly, MaxParallelThreads = 2)]

namespace PapaActors.Tests.Support;

/// <summary>
/// The queue of test classes that start papa only as child processes and change nothing process-wide in the test
/// host (no in-process papa run, no libtorch setting); <see cref="Host.TestCategoryTests"/> holds them to it.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ChildProcesses
{
    public const string Name = "child processes";
}
