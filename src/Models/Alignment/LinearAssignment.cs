namespace PapaActors.Models.Alignment;

/// <summary>
/// The linear assignment problem: the permutation that maximises sum_i score[i, perm[i]]. Written here because no
/// package on this project's NuGet feed offers one; the Hungarian method with potentials and shortest augmenting
/// paths (Kuhn-Munkres, O(n^3)), which is exact and deterministic: ties go to the lowest column index.
/// </summary>
public static class LinearAssignment
{
    public static int[] Maximize(double[,] score)
    {
        var n = score.GetLength(0);
        if (score.GetLength(1) != n)
            throw new ArgumentException($"a square score matrix is needed, got {n} x {score.GetLength(1)}");
        // Minimises cost = -score. Rows and columns are 1-based below; row 0 / column 0 are the algorithm's sentinels.
        var u = new double[n + 1];
        var v = new double[n + 1];
        var rowOfColumn = new int[n + 1];
        var way = new int[n + 1];
        for (var row = 1; row <= n; row++)
        {
            rowOfColumn[0] = row;
            var column = 0;
            var minimum = new double[n + 1];
            var used = new bool[n + 1];
            Array.Fill(minimum, double.PositiveInfinity);
            do
            {
                used[column] = true;
                var (current, delta, next) = (rowOfColumn[column], double.PositiveInfinity, 0);
                for (var j = 1; j <= n; j++)
                {
                    if (used[j])
                        continue;
                    var reduced = -score[current - 1, j - 1] - u[current] - v[j];
                    if (reduced < minimum[j])
                    {
                        minimum[j] = reduced;
                        way[j] = column;
                    }
                    if (minimum[j] < delta)
                    {
                        delta = minimum[j];
                        next = j;
                    }
                }
                for (var j = 0; j <= n; j++)
                {
                    if (used[j])
                    {
                        u[rowOfColumn[j]] += delta;
                        v[j] -= delta;
                    }
                    else
                    {
                        minimum[j] -= delta;
                    }
                }
                column = next;
            } while (rowOfColumn[column] != 0);
            do
            {
                var previous = way[column];
                rowOfColumn[column] = rowOfColumn[previous];
                column = previous;
            } while (column != 0);
        }
        var assignment = new int[n];
        for (var j = 1; j <= n; j++)
            assignment[rowOfColumn[j] - 1] = j - 1;
        return assignment;
    }
}
