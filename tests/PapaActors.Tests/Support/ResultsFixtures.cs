using System.Text.Json;
using PapaActors.Actors.Population;

namespace PapaActors.Tests.Support;

/// <summary>
/// results.json files that `papa run` wrote before the file had a typed schema (Actors/Population/ResultsFiles): a completed
/// run of <see cref="Host.CommandLineTests.Tiny"/> with seed 7 and two variations, a failed and a diverged run.
/// </summary>
public static class ResultsFixtures
{
    public static string Text(string name) => File.ReadAllText(RepositoryFiles.Path("tests", "PapaActors.Tests", "Actors", "Population", "ResultsFiles", name));

    /// <summary>completed.json as the schema reads it.</summary>
    public static ResultsFile.Completed Completed() => JsonSerializer.Deserialize(Text("completed.json"), ResultsJsonContext.Default.Completed)!;

    /// <summary>
    /// Writes a completed run's results.json into <paramref name="folder"/> as `papa run` does, with these seed and
    /// accuracies (mean member, ensemble, average soup, greedy soup).
    /// </summary>
    public static void WriteCompleted(string folder, long seed, double[] accuracies)
    {
        var results = Completed();
        ResultsFile.Write(folder, results with
        {
            Seed = seed,
            MeanMemberTestAccuracy = accuracies[0],
            Ensemble = new ResultsFile.Ensemble(accuracies[1]),
            AverageSoup = results.AverageSoup with { TestAccuracy = accuracies[2] },
            GreedySoup = results.GreedySoup with { TestAccuracy = accuracies[3] },
        });
    }
}
